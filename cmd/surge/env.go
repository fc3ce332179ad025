package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/broker"
)

// brokers returns --brokers / SURGE_BROKERS / the file's brokers, split on commas.
func (a *app) brokers() []string {
	var raw []string
	switch v := a.v.Get("brokers").(type) {
	case string:
		raw = []string{v}
	case []string:
		raw = v
	case []any:
		for _, x := range v {
			raw = append(raw, fmt.Sprint(x))
		}
	}
	var out []string
	for _, r := range raw {
		for _, b := range strings.Split(r, ",") {
			if b = strings.TrimSpace(b); b != "" {
				out = append(out, b)
			}
		}
	}
	return out
}

func (a *app) dataDir(sub string) string { return filepath.Join(a.v.GetString("data-dir"), sub) }

// brokerAddrFile is where a running embedded broker advertises its address so
// that other surge commands on the same data directory use it instead of
// opening the same data files.
func brokerAddrFile(dir string) string { return filepath.Join(dir, "broker.addr") }

// runningBroker returns the address of a live embedded broker on dir, if any.
func runningBroker(dir string) (string, bool) { return reachable(brokerAddrFile(dir)) }

// reachable reads the address advertised in file and checks that something
// listens there.
func reachable(file string) (string, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", false
	}
	addr := strings.TrimSpace(string(b))
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return "", false
	}
	c.Close()
	return addr, true
}

// startEmbeddedBroker starts the in-process broker on dir and advertises it.
// opts add to surge's (SASL users, TLS).
func (a *app) startEmbeddedBroker(ctx context.Context, dir, addr string, partitions int32, opts ...broker.Opt) (*broker.Broker, func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("create broker data directory: %w", err)
	}
	b, err := broker.Start(ctx, append([]broker.Opt{
		broker.WithAddr(addr),
		broker.WithDataDir(dir),
		broker.WithPartitions(int(partitions)),
		broker.WithLogger(a.brokerLogger()),
	}, opts...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: start embedded broker in %s: %v", errUnavailable, dir, err)
	}
	file := brokerAddrFile(dir)
	if err := os.WriteFile(file, []byte(b.Addrs()[0]+"\n"), 0o644); err != nil {
		b.Close()
		return nil, nil, fmt.Errorf("advertise embedded broker: %w", err)
	}
	return b, func() {
		os.Remove(file)
		b.Close()
	}, nil
}

// kafka returns how to reach Kafka: --brokers when given, else a running
// 'surge broker' on the data directory, else an embedded broker started now.
// The returned func releases what was started. With SASL or TLS settings,
// it first checks that the brokers accept them, so that wrong credentials
// fail the command at once with a clear message.
func (a *app) kafka(ctx context.Context) (stream.ClientConfig, func(), error) {
	cfg := stream.ClientConfig{ClientID: "surge", Logger: a.logger}
	sec, err := a.kafkaSecurity()
	if err != nil {
		return cfg, nil, err
	}
	if bs := a.brokers(); len(bs) > 0 {
		cfg.Brokers, cfg.Security = bs, sec
		if err := a.pingKafka(ctx, cfg, false); err != nil {
			return cfg, nil, err
		}
		return cfg, func() {}, nil
	}
	dir := a.dataDir("kafka")
	if addr, ok := runningBroker(dir); ok {
		a.logger.Info("using the running embedded broker", "addr", addr, "data_dir", dir)
		cfg.Brokers, cfg.Security = []string{addr}, sec
		// Always checked: a 'surge broker' started with SASL or TLS
		// refuses a command without the matching flags.
		if err := a.pingKafka(ctx, cfg, true); err != nil {
			return cfg, nil, err
		}
		return cfg, func() {}, nil
	}
	if sec.Enabled() {
		a.logger.Warn("the embedded broker started here has no SASL or TLS; --kafka-sasl-* and --kafka-tls-* " +
			"apply to --brokers or to a running 'surge broker'")
	}
	b, stop, err := a.startEmbeddedBroker(ctx, dir, "127.0.0.1:0", 8)
	if err != nil {
		return cfg, nil, err
	}
	a.logger.Info("started embedded broker", "addr", b.Addrs()[0], "data_dir", dir)
	cfg.Brokers = b.Addrs()
	return cfg, stop, nil
}

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

// pingKafka checks, when cfg has SASL or TLS settings or always is set,
// that the brokers accept the client. Refused credentials and TLS failures
// are usage errors (the settings need fixing); brokers that do not answer
// are unavailable.
func (a *app) pingKafka(ctx context.Context, cfg stream.ClientConfig, always bool) error {
	if !always && !cfg.Security.Enabled() {
		return nil
	}
	err := stream.Ping(ctx, cfg)
	switch {
	case err == nil:
		a.logger.Debug("kafka accepted the security settings", "brokers", cfg.Brokers, "security", cfg.Security)
		return nil
	case errors.Is(err, stream.ErrAuthFailed), errors.Is(err, stream.ErrTLS):
		return fmt.Errorf("%w: %w", errUsage, err)
	default:
		return fmt.Errorf("%w: %w", errUnavailable, err)
	}
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

// clickhouse connects to --clickhouse, or starts (or reuses) the local server
// under the data directory, and applies migrations.
func (a *app) clickhouse(ctx context.Context) (*analytics.Conn, func(), error) {
	cfg, err := a.clickhouseConfig()
	if err != nil {
		return nil, nil, err
	}
	release := func() {}
	if cfg.Addr == "" {
		if cfg.TLS.On() {
			a.logger.Warn("the local ClickHouse has no TLS port; --clickhouse-tls-* apply to --clickhouse")
			cfg.TLS = analytics.TLSConfig{}
		}
		dir := a.dataDir("clickhouse")
		addrFile := filepath.Join(dir, "server.addr")
		srv, err := analytics.StartLocal(ctx, dir, analytics.WithLogger(a.logger))
		switch {
		case errors.Is(err, analytics.ErrDirInUse):
			// Another surge command runs the local server on this data
			// directory: share it.
			addr, ok := reachable(addrFile)
			if !ok {
				return nil, nil, fmt.Errorf("%w: %v", errUnavailable, err)
			}
			a.logger.Info("using the running local ClickHouse", "addr", addr, "data_dir", dir)
			cfg.Addr = addr
		case errors.Is(err, analytics.ErrServerNotInstalled):
			return nil, nil, err
		case err != nil:
			return nil, nil, fmt.Errorf("%w: %v", errUnavailable, err)
		default:
			a.logger.Info("local ClickHouse ready", "addr", srv.Addr(), "data_dir", dir)
			cfg.Addr = srv.Addr()
			if err := os.WriteFile(addrFile, []byte(srv.Addr()+"\n"), 0o644); err != nil {
				a.logger.Warn("advertise local ClickHouse", "err", err)
			}
			release = func() {
				os.Remove(addrFile)
				if err := srv.Stop(); err != nil {
					a.logger.Warn("stop local ClickHouse", "err", err)
				}
			}
		}
	}
	conn, err := analytics.Open(ctx, cfg)
	if err != nil {
		release()
		if errors.Is(err, analytics.ErrAuthFailed) || errors.Is(err, analytics.ErrTLS) {
			return nil, nil, fmt.Errorf("%w: %w", errUsage, err)
		}
		return nil, nil, fmt.Errorf("%w: %v", errUnavailable, err)
	}
	applied, err := conn.Migrate(ctx)
	if err != nil {
		conn.Close()
		release()
		return nil, nil, fmt.Errorf("apply ClickHouse migrations: %w", err)
	}
	if len(applied) > 0 {
		a.logger.Info("applied ClickHouse migrations", "migrations", applied)
	}
	return conn, func() {
		conn.Close()
		release()
	}, nil
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
	if cfg.TLS.InsecureSkipVerifyForTesting {
		a.logger.Warn("--clickhouse-tls-insecure-skip-verify: the server certificate is not checked; for tests only")
	}
	return cfg, nil
}

// brokerLogger is the embedded broker's logger: its warnings (slow
// transactions and the like) are about the test broker, not the pipeline, so
// it logs errors only unless --log-level is debug.
func (a *app) brokerLogger() *slog.Logger {
	if a.logger.Enabled(context.Background(), slog.LevelDebug) {
		return a.logger.With("component", "broker")
	}
	return slog.New(levelFloor{a.logger.Handler(), slog.LevelError}).With("component", "broker")
}

// levelFloor drops records below min.
type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (h levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}
func (h levelFloor) WithAttrs(as []slog.Attr) slog.Handler {
	return levelFloor{h.Handler.WithAttrs(as), h.min}
}
func (h levelFloor) WithGroup(n string) slog.Handler {
	return levelFloor{h.Handler.WithGroup(n), h.min}
}
