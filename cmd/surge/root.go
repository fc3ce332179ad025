package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"github.com/surgeio/surge/internal/output"
)

// app holds what every command shares: the merged configuration and the logger.
type app struct {
	v      *viper.Viper
	logger *slog.Logger
}

const rootLong = `surge moves commerce traffic through Kafka into ClickHouse for peak days.

Producers send orders and user events onto partitioned Kafka topics, keyed by
user so each shopper's events stay in order; a sink streams every record into
ClickHouse exactly once, where reports show campaign results live.

With no --brokers, surge runs an embedded Kafka-protocol broker with its data
under --data-dir (or reuses a running 'surge broker'); with no --clickhouse it
starts a private clickhouse-server there. Point both flags at real clusters in
production.

Secure connections: --kafka-sasl-* and --kafka-tls-* authenticate to and
encrypt Kafka (SASL PLAIN, SCRAM-SHA-256/512; TLS with a private CA and
client certificates); --clickhouse-password(-file) and --clickhouse-tls-*
do the same for ClickHouse. Pass passwords through SURGE_* variables or
*-password-file, not on the command line; surge never prints them.

Configuration precedence: flag > environment (SURGE_<FLAG>, dashes as
underscores, e.g. SURGE_CLICKHOUSE_USER) > config file (--config, default
./surge.yaml if present; keys are flag names) > default.`

func newRootCmd() *cobra.Command {
	a := &app{v: viper.New()}
	root := &cobra.Command{
		Use:           "surge",
		Short:         "Kafka event-streaming pipeline for commerce peaks",
		Long:          rootLong,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.init(cmd)
		},
		Example: `  surge up                          # the whole pipeline on this machine, one minute of peak
  surge broker                      # a standalone Kafka-protocol broker on :9092
  surge topics create --partitions 16
  surge produce --rate 50000 --duration 5m --shape spike
  surge sink
  surge report campaign-summary --output json`,
	}
	pf := root.PersistentFlags()
	pf.String("config", "", "config file (YAML); default ./surge.yaml when present")
	pf.StringSlice("brokers", nil, "Kafka seed brokers host:port,...; empty runs or reuses the embedded broker")
	pf.String("data-dir", ".surge", "directory for the embedded broker's and local ClickHouse's data")
	pf.String("clickhouse", "", "ClickHouse native address host:port; empty starts a local clickhouse-server")
	pf.String("clickhouse-user", "default", "ClickHouse user")
	pf.String("clickhouse-password", "", "ClickHouse password (prefer SURGE_CLICKHOUSE_PASSWORD)")
	pf.String("clickhouse-database", "surge", "ClickHouse database")
	securityFlags(pf)
	pf.String("log-level", "info", "log level: debug, info, warn, error")
	pf.String("log-format", "text", "log format: text or json")
	root.AddCommand(
		newVersionCmd(),
		newConfigCmd(a),
		newBrokerCmd(a),
		newTopicsCmd(a),
		newProduceCmd(a),
		newSinkCmd(a),
		newTriggersCmd(a), newRulesCmd(a),
		newReportCmd(a),
		newMigrateCmd(a),
		newUpCmd(a),
		newGatewayCmd(a),
		newDispatchCmd(a),
		newDLQCmd(a),
		newLagCmd(a),
		newDoctorCmd(a),
	)
	return root
}

// init merges flags, environment and the config file, and sets up logging.
func (a *app) init(cmd *cobra.Command) error {
	v := a.v
	v.SetEnvPrefix("SURGE")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	var bindErr error
	bind := func(f *pflag.Flag) {
		if err := v.BindPFlag(f.Name, f); err != nil && bindErr == nil {
			bindErr = err
		}
	}
	cmd.Flags().VisitAll(bind)
	cmd.InheritedFlags().VisitAll(bind)
	if bindErr != nil {
		return bindErr
	}
	if file := v.GetString("config"); file != "" {
		v.SetConfigFile(file)
		if err := v.ReadInConfig(); err != nil {
			return fmt.Errorf("%w: read config file %s: %v", errUsage, file, err)
		}
	} else if _, err := os.Stat("surge.yaml"); err == nil {
		v.SetConfigFile("surge.yaml")
		if err := v.ReadInConfig(); err != nil {
			return fmt.Errorf("%w: read config file surge.yaml: %v", errUsage, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(v.GetString("log-level"))); err != nil {
		return fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", errUsage, v.GetString("log-level"))
	}
	hopts := &slog.HandlerOptions{Level: level}
	switch f := v.GetString("log-format"); f {
	case "text":
		a.logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), hopts))
	case "json":
		a.logger = slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), hopts))
	default:
		return fmt.Errorf("%w: --log-format %q: want text or json", errUsage, f)
	}
	return nil
}

// securityFlags adds the Kafka and ClickHouse SASL, password and TLS flags.
func securityFlags(pf *pflag.FlagSet) {
	pf.String("kafka-sasl-mechanism", "", "Kafka SASL mechanism: plain, scram-sha-256 or scram-sha-512; empty for no SASL")
	pf.String("kafka-sasl-user", "", "Kafka SASL user")
	pf.String("kafka-sasl-password", "", "Kafka SASL password (prefer SURGE_KAFKA_SASL_PASSWORD or --kafka-sasl-password-file)")
	pf.String("kafka-sasl-password-file", "", "file holding the Kafka SASL password (e.g. a mounted secret)")
	pf.Bool("kafka-tls", false, "connect to Kafka over TLS (implied by the other --kafka-tls-* flags)")
	pf.String("kafka-tls-ca", "", "PEM file of the CAs that sign the brokers' certificates (default: the system's)")
	pf.String("kafka-tls-cert", "", "PEM client certificate, for brokers that require one (with --kafka-tls-key)")
	pf.String("kafka-tls-key", "", "PEM key of --kafka-tls-cert")
	pf.String("kafka-tls-server-name", "", "host name the brokers' certificates must be valid for (default: each broker's host)")
	pf.Bool("kafka-tls-insecure-skip-verify", false, "TESTS ONLY: accept any broker certificate")
	pf.String("clickhouse-password-file", "", "file holding the ClickHouse password (e.g. a mounted secret)")
	pf.Bool("clickhouse-tls", false, "connect to ClickHouse's secure native port over TLS (implied by the other --clickhouse-tls-* flags)")
	pf.String("clickhouse-tls-ca", "", "PEM file of the CAs that sign ClickHouse's certificate (default: the system's)")
	pf.String("clickhouse-tls-server-name", "", "host name ClickHouse's certificate must be valid for (default: the --clickhouse host)")
	pf.Bool("clickhouse-tls-insecure-skip-verify", false, "TESTS ONLY: accept any ClickHouse certificate")
}

// outputFlag adds --output to a read command.
func outputFlag(cmd *cobra.Command, formats ...string) {
	cmd.Flags().StringP("output", "o", formats[0], "output format: "+strings.Join(formats, ", "))
}

// outputFormat reads --output, checked against the formats a command offers.
func (a *app) outputFormat(allowed ...output.Format) (output.Format, error) {
	f, err := output.Parse(a.v.GetString("output"), allowed...)
	if err != nil {
		return "", fmt.Errorf("%w: %v", errUsage, err)
	}
	return f, nil
}
