package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/surgeio/surge/internal/output"
)

// addKafkaFlags adds the Kafka connection flags (--brokers, --data-dir for
// the embedded broker, --kafka-sasl-*, --kafka-tls-*) to fs. Only commands
// that talk to Kafka have them; a parent whose subcommands all do may add
// them to its persistent flags.
func addKafkaFlags(fs *pflag.FlagSet) {
	addDataDirFlag(fs)
	fs.StringSlice("brokers", nil, "Kafka seed brokers host:port,...; empty uses a running 'surge broker' on --data-dir or starts the embedded broker")
	fs.String("kafka-sasl-mechanism", "", "Kafka SASL mechanism: plain, scram-sha-256 or scram-sha-512; empty for no SASL")
	fs.String("kafka-sasl-user", "", "Kafka SASL user")
	fs.String("kafka-sasl-password", "", "Kafka SASL password (prefer SURGE_KAFKA_SASL_PASSWORD or --kafka-sasl-password-file)")
	fs.String("kafka-sasl-password-file", "", "file holding the Kafka SASL password (e.g. a mounted secret)")
	fs.Bool("kafka-tls", false, "connect to Kafka over TLS (implied by the other --kafka-tls-* flags)")
	fs.String("kafka-tls-ca", "", "PEM file of the CAs that sign the brokers' certificates (default: the system's)")
	fs.String("kafka-tls-cert", "", "PEM client certificate, for brokers that require one (with --kafka-tls-key)")
	fs.String("kafka-tls-key", "", "PEM key of --kafka-tls-cert")
	fs.String("kafka-tls-server-name", "", "host name the brokers' certificates must be valid for (default: each broker's host)")
	fs.Bool("kafka-tls-insecure-skip-verify", false, "TESTS ONLY: accept any broker certificate")
}

// addClickHouseFlags adds the ClickHouse connection flags (--clickhouse*,
// --data-dir for the local server) to fs, for commands that use ClickHouse.
func addClickHouseFlags(fs *pflag.FlagSet) {
	addDataDirFlag(fs)
	fs.String("clickhouse", "", "ClickHouse native address host:port; empty uses the local clickhouse-server on --data-dir")
	fs.String("clickhouse-user", "default", "ClickHouse user")
	fs.String("clickhouse-password", "", "ClickHouse password (prefer SURGE_CLICKHOUSE_PASSWORD or --clickhouse-password-file)")
	fs.String("clickhouse-password-file", "", "file holding the ClickHouse password (e.g. a mounted secret)")
	fs.String("clickhouse-database", "surge", "ClickHouse database")
	fs.Bool("clickhouse-tls", false, "connect to ClickHouse's secure native port over TLS (implied by the other --clickhouse-tls-* flags)")
	fs.String("clickhouse-tls-ca", "", "PEM file of the CAs that sign ClickHouse's certificate (default: the system's)")
	fs.String("clickhouse-tls-server-name", "", "host name ClickHouse's certificate must be valid for (default: the --clickhouse host)")
	fs.Bool("clickhouse-tls-insecure-skip-verify", false, "TESTS ONLY: accept any ClickHouse certificate")
}

// addDataDirFlag adds --data-dir once.
func addDataDirFlag(fs *pflag.FlagSet) {
	if fs.Lookup("data-dir") == nil {
		fs.String("data-dir", ".surge", "directory of the embedded broker's and the local ClickHouse's data")
	}
}

// addGlobalFlags adds the flags every command has.
func addGlobalFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "config file (YAML); default ./surge.yaml when present")
	fs.String("log-level", "info", "log level: debug, info, warn, error")
	fs.String("log-format", "text", "log format: text or json")
}

// sharedKeys are the flags that mean the same to every command that has
// them: the connection and logging flags. The config file holds them at
// its top level; every other flag under its command's section.
var sharedKeys = func() map[string]bool {
	fs := pflag.NewFlagSet("shared", pflag.ContinueOnError)
	addGlobalFlags(fs)
	addKafkaFlags(fs)
	addClickHouseFlags(fs)
	m := map[string]bool{}
	fs.VisitAll(func(f *pflag.Flag) { m[f.Name] = true })
	return m
}()

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

// splitList splits comma-separated values (as environment variables and
// config files give them), trims them and drops empty ones; every list flag
// is read through it.
func splitList(in []string) []string {
	var out []string
	for _, s := range in {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
