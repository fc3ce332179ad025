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
