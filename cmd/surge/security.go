package main

import (
	"fmt"
	"path/filepath"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/stream"
)

// brokers returns --brokers (merged from SURGE_BROKERS and the file),
// split on commas.
func (a *app) brokers() []string { return splitList(a.v.GetStringSlice("brokers")) }

func (a *app) dataDir(sub string) string { return filepath.Join(a.v.GetString("data-dir"), sub) }

// kafkaSecurity reads --kafka-sasl-* and --kafka-tls-*.
func (a *app) kafkaSecurity() (stream.Security, error) {
	v := a.v
	sec := stream.Security{
		SASL: stream.SASL{
			Mechanism: v.GetString("kafka-sasl-mechanism"),
			User:      v.GetString("kafka-sasl-user"),
			Password:  stream.Secret(v.GetString("kafka-sasl-password")),
		},
		TLS: stream.TLS{
			Enabled:                      v.GetBool("kafka-tls"),
			CAFile:                       v.GetString("kafka-tls-ca"),
			CertFile:                     v.GetString("kafka-tls-cert"),
			KeyFile:                      v.GetString("kafka-tls-key"),
			ServerName:                   v.GetString("kafka-tls-server-name"),
			InsecureSkipVerifyForTesting: v.GetBool("kafka-tls-insecure-skip-verify"),
		},
	}
	pw, err := secretFromFile(sec.SASL.Password.Reveal(), v.GetString("kafka-sasl-password-file"), "--kafka-sasl-password")
	if err != nil {
		return sec, err
	}
	sec.SASL.Password = stream.Secret(pw)
	if sec.SASL.Mechanism != "" {
		if sec.SASL.Mechanism, err = stream.ParseMechanism(sec.SASL.Mechanism); err != nil {
			return sec, fmt.Errorf("%w: --kafka-sasl-mechanism: %v", errUsage, err)
		}
	}
	switch {
	case sec.SASL.Mechanism != "" && sec.SASL.User == "":
		return sec, fmt.Errorf("%w: --kafka-sasl-mechanism needs --kafka-sasl-user", errUsage)
	case sec.SASL.Mechanism != "" && sec.SASL.Password == "":
		return sec, fmt.Errorf("%w: --kafka-sasl-user %q needs a password: SURGE_KAFKA_SASL_PASSWORD, "+
			"--kafka-sasl-password or --kafka-sasl-password-file", errUsage, sec.SASL.User)
	case sec.SASL.Mechanism == "" && (sec.SASL.User != "" || sec.SASL.Password != ""):
		return sec, fmt.Errorf("%w: --kafka-sasl-user and password need --kafka-sasl-mechanism "+
			"(plain, scram-sha-256 or scram-sha-512)", errUsage)
	}
	if err := sec.Validate(); err != nil {
		return sec, fmt.Errorf("%w: kafka TLS settings (--kafka-tls-*): %v", errUsage, err)
	}
	if sec.TLS.InsecureSkipVerifyForTesting {
		a.logger.Warn("--kafka-tls-insecure-skip-verify: broker certificates are not checked; for tests only")
	}
	if sec.SASL.Mechanism == stream.MechanismPlain && !sec.TLS.On() {
		a.logger.Warn("SASL PLAIN without TLS sends the password in clear; add --kafka-tls or use scram-sha-512")
	}
	return sec, nil
}

// secretFromFile returns value, or the content of file when file is set;
// flag names the value's flag in errors.
func secretFromFile(value, file, flag string) (string, error) {
	if file == "" {
		return value, nil
	}
	if value != "" {
		return "", fmt.Errorf("%w: set %s or %s-file, not both", errUsage, flag, flag)
	}
	s, err := stream.ReadSecretFile(file)
	if err != nil {
		return "", fmt.Errorf("%w: %s-file: %v", errUsage, flag, err)
	}
	return s.Reveal(), nil
}

// clickhouseConfig reads the --clickhouse* settings.
func (a *app) clickhouseConfig() (analytics.Config, error) {
	v := a.v
	cfg := analytics.Config{
		Addr:     v.GetString("clickhouse"),
		User:     v.GetString("clickhouse-user"),
		Database: v.GetString("clickhouse-database"),
		TLS: analytics.TLSConfig{
			Enabled:                      v.GetBool("clickhouse-tls"),
			CAFile:                       v.GetString("clickhouse-tls-ca"),
			ServerName:                   v.GetString("clickhouse-tls-server-name"),
			InsecureSkipVerifyForTesting: v.GetBool("clickhouse-tls-insecure-skip-verify"),
		},
	}
	pw, err := secretFromFile(v.GetString("clickhouse-password"), v.GetString("clickhouse-password-file"), "--clickhouse-password")
	if err != nil {
		return cfg, err
	}
	cfg.Password = pw
	if err := analytics.CheckDatabase(cfg.Database); err != nil {
		return cfg, fmt.Errorf("%w: --clickhouse-database: %v", errUsage, err)
	}
	if cfg.TLS.InsecureSkipVerifyForTesting {
		a.logger.Warn("--clickhouse-tls-insecure-skip-verify: the server certificate is not checked; for tests only")
	}
	return cfg, nil
}
