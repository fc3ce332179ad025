package main

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/surgeio/surge/internal/output"
)

// kafkaFlags are the Kafka connection flags, bound by addKafkaFlags.
type kafkaFlags struct {
	brokers                               []string
	saslMechanism, saslUser               string
	saslPassword, saslPasswordFile        string
	tls                                   bool
	tlsCA, tlsCert, tlsKey, tlsServerName string
	tlsInsecureSkipVerify                 bool
}

// clickhouseFlags are the ClickHouse connection flags, bound by
// addClickHouseFlags.
type clickhouseFlags struct {
	addr, user, password, passwordFile, database string
	tls                                          bool
	tlsCA, tlsServerName                         string
	tlsInsecureSkipVerify                        bool
}

// globalFlags are the flags every command has.
type globalFlags struct {
	config, logLevel, logFormat string
}

// addKafkaFlags adds the Kafka connection flags (--brokers, --data-dir for
// the embedded broker, --kafka-sasl-*, --kafka-tls-*) to fs, bound to the
// factory's settings. Only commands that talk to Kafka have them; a parent
// whose subcommands all do may add them to its persistent flags.
func (a *app) addKafkaFlags(fs *pflag.FlagSet) {
	k := &a.kafkaFlags
	a.addDataDirFlag(fs)
	fs.StringSliceVar(&k.brokers, "brokers", nil, "Kafka seed brokers host:port,...; empty uses a running 'surge broker' on --data-dir or starts the embedded broker")
	fs.StringVar(&k.saslMechanism, "kafka-sasl-mechanism", "", "Kafka SASL mechanism: plain, scram-sha-256 or scram-sha-512; empty for no SASL")
	fs.StringVar(&k.saslUser, "kafka-sasl-user", "", "Kafka SASL user")
	fs.StringVar(&k.saslPassword, "kafka-sasl-password", "", "Kafka SASL password (prefer SURGE_KAFKA_SASL_PASSWORD or --kafka-sasl-password-file)")
	fs.StringVar(&k.saslPasswordFile, "kafka-sasl-password-file", "", "file holding the Kafka SASL password (e.g. a mounted secret)")
	fs.BoolVar(&k.tls, "kafka-tls", false, "connect to Kafka over TLS (implied by the other --kafka-tls-* flags)")
	fs.StringVar(&k.tlsCA, "kafka-tls-ca", "", "PEM file of the CAs that sign the brokers' certificates (default: the system's)")
	fs.StringVar(&k.tlsCert, "kafka-tls-cert", "", "PEM client certificate, for brokers that require one (with --kafka-tls-key)")
	fs.StringVar(&k.tlsKey, "kafka-tls-key", "", "PEM key of --kafka-tls-cert")
	fs.StringVar(&k.tlsServerName, "kafka-tls-server-name", "", "host name the brokers' certificates must be valid for (default: each broker's host)")
	fs.BoolVar(&k.tlsInsecureSkipVerify, "kafka-tls-insecure-skip-verify", false, "TESTS ONLY: accept any broker certificate")
}

// addClickHouseFlags adds the ClickHouse connection flags (--clickhouse*,
// --data-dir for the local server) to fs, bound to the factory's settings,
// for commands that use ClickHouse.
func (a *app) addClickHouseFlags(fs *pflag.FlagSet) {
	c := &a.clickhouseFlags
	a.addDataDirFlag(fs)
	fs.StringVar(&c.addr, "clickhouse", "", "ClickHouse native address host:port; empty uses the local clickhouse-server on --data-dir")
	fs.StringVar(&c.user, "clickhouse-user", "default", "ClickHouse user")
	fs.StringVar(&c.password, "clickhouse-password", "", "ClickHouse password (prefer SURGE_CLICKHOUSE_PASSWORD or --clickhouse-password-file)")
	fs.StringVar(&c.passwordFile, "clickhouse-password-file", "", "file holding the ClickHouse password (e.g. a mounted secret)")
	fs.StringVar(&c.database, "clickhouse-database", "surge", "ClickHouse database")
	fs.BoolVar(&c.tls, "clickhouse-tls", false, "connect to ClickHouse's secure native port over TLS (implied by the other --clickhouse-tls-* flags)")
	fs.StringVar(&c.tlsCA, "clickhouse-tls-ca", "", "PEM file of the CAs that sign ClickHouse's certificate (default: the system's)")
	fs.StringVar(&c.tlsServerName, "clickhouse-tls-server-name", "", "host name ClickHouse's certificate must be valid for (default: the --clickhouse host)")
	fs.BoolVar(&c.tlsInsecureSkipVerify, "clickhouse-tls-insecure-skip-verify", false, "TESTS ONLY: accept any ClickHouse certificate")
}

// addDataDirFlag adds --data-dir once.
func (a *app) addDataDirFlag(fs *pflag.FlagSet) {
	if fs.Lookup("data-dir") == nil {
		fs.StringVar(&a.dataDirFlag, "data-dir", ".surge", "directory of the embedded broker's and the local ClickHouse's data")
	}
}

// addGlobalFlags adds the flags every command has.
func (a *app) addGlobalFlags(fs *pflag.FlagSet) {
	fs.StringVar(&a.global.config, "config", "", "config file (YAML); default ./surge.yaml when present")
	fs.StringVar(&a.global.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&a.global.logFormat, "log-format", "text", "log format: text or json")
}

// sharedKeys are the flags that mean the same to every command that has
// them: the connection and logging flags. The config file holds them at
// its top level; every other flag under its command's section.
var sharedKeys = func() map[string]bool {
	fs := pflag.NewFlagSet("shared", pflag.ContinueOnError)
	a := &app{}
	a.addGlobalFlags(fs)
	a.addKafkaFlags(fs)
	a.addClickHouseFlags(fs)
	m := map[string]bool{}
	fs.VisitAll(func(f *pflag.Flag) { m[f.Name] = true })
	return m
}()

// outputVar adds --output to a read command, bound to p; the first format
// is the default. parseOutput checks the value.
func outputVar(fs *pflag.FlagSet, p *string, formats ...string) {
	fs.StringVarP(p, "output", "o", formats[0], "output format: "+strings.Join(formats, ", "))
}

// parseOutput checks an --output value against the formats a command offers.
func parseOutput(s string, allowed ...output.Format) (output.Format, error) {
	f, err := output.Parse(s, allowed...)
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
