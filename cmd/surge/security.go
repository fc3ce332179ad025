package main

import (
	"fmt"
	"path/filepath"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/stream"
)

// brokers returns --brokers (merged from SURGE_BROKERS and the file),
// split on commas.
func (a *app) brokers() []string { return splitList(a.kafkaFlags.brokers) }

func (a *app) dataDir(sub string) string { return filepath.Join(a.dataDirFlag, sub) }

// kafkaSecurity reads --kafka-sasl-* and --kafka-tls-*.
func (a *app) kafkaSecurity() (stream.Security, error) {
	k := a.kafkaFlags
	sec := stream.Security{
		SASL: stream.SASL{
			Mechanism: k.saslMechanism,
			User:      k.saslUser,
			Password:  stream.Secret(k.saslPassword),
		},
		TLS: stream.TLS{
			Enabled:                      k.tls,
			CAFile:                       k.tlsCA,
			CertFile:                     k.tlsCert,
			KeyFile:                      k.tlsKey,
			ServerName:                   k.tlsServerName,
			InsecureSkipVerifyForTesting: k.tlsInsecureSkipVerify,
		},
	}
	pw, err := secretFromFile(sec.SASL.Password.Reveal(), k.saslPasswordFile, "--kafka-sasl-password")
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
	c := a.clickhouseFlags
	cfg := analytics.Config{
		Addr:     c.addr,
		User:     c.user,
		Database: c.database,
		TLS: analytics.TLSConfig{
			Enabled:                      c.tls,
			CAFile:                       c.tlsCA,
			ServerName:                   c.tlsServerName,
			InsecureSkipVerifyForTesting: c.tlsInsecureSkipVerify,
		},
	}
	pw, err := secretFromFile(c.password, c.passwordFile, "--clickhouse-password")
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
