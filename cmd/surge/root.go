package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
)

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

Each command has only the flags it uses: the Kafka flags on commands that
talk to Kafka, the ClickHouse flags on those that use ClickHouse.

Configuration precedence: flag > environment > config file > default.
Environment: SURGE_<COMMAND>_<FLAG> (e.g. SURGE_SINK_GROUP), then
SURGE_<FLAG> (e.g. SURGE_CLICKHOUSE_USER); dashes as underscores. Config file
(--config, default ./surge.yaml if present): connection and logging flags at
the top level, every other flag under its command (sink: {group: ...}).
'surge config' shows the result per command.`

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
	a.addGlobalFlags(root.PersistentFlags())
	root.AddCommand(
		newVersionCmd(),
		newConfigCmd(a),
		newBrokerCmd(a),
		newTopicsCmd(a),
		newProduceCmd(a),
		newSinkCmd(a),
		newTriggersCmd(a), newRulesCmd(a),
		newReportCmd(a),
		newUICmd(a),
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

// init merges the environment and the config file into the flags of cmd
// (config_resolve.go) and sets up logging.
func (a *app) init(cmd *cobra.Command) error {
	file, err := configFile(cmd)
	if err != nil {
		return err
	}
	m, err := readConfigFile(cmd.Root(), file)
	if err != nil {
		return err
	}
	if a.sources, err = resolve(cmd, m); err != nil {
		return err
	}
	a.file, a.fileValues = file, m
	a.v = viper.New()
	if err := a.v.BindPFlags(cmd.Flags()); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.global.logLevel)); err != nil {
		return fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", errUsage, a.global.logLevel)
	}
	hopts := &slog.HandlerOptions{Level: level}
	switch f := a.global.logFormat; f {
	case "text":
		a.logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), hopts))
	case "json":
		a.logger = slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), hopts))
	default:
		return fmt.Errorf("%w: --log-format %q: want text or json", errUsage, f)
	}
	return nil
}
