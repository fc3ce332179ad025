package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/viper"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/stream"
)

// app is surge's factory: every command receives it and gets from it what
// it shares with the others, built lazily when the command runs:
//
//   - the logger (a.logger), set up from --log-level and --log-format;
//   - Kafka client settings, with the SASL and TLS flags always applied:
//     a.kafkaSettings (no network), a.kafkaConnect (reach and check a
//     running cluster, never start one) or a.kafka (the same, else start the
//     embedded broker);
//   - ClickHouse: a.clickhouseConfig (no network), a.clickhouseConnect
//     (reach a running server, no migrations) or a.clickhouse (the same,
//     else start the local server; applies migrations), password files and
//     TLS always applied.
//
// A command registers the connection flags it needs with a.addKafkaFlags
// and a.addClickHouseFlags (flags.go); values from SURGE_* variables and the
// config file are written into the command's flags before it runs
// (config_resolve.go), so options bound to flags hold the merged value.
type app struct {
	// v reads the command's flags by name. It holds no environment and no
	// file (both are already merged into the flags); new code binds flags to
	// typed options instead.
	v      *viper.Viper
	logger *slog.Logger
	// The connection and global flags of the command that runs, bound by
	// addKafkaFlags, addClickHouseFlags and addGlobalFlags.
	kafkaFlags      kafkaFlags
	clickhouseFlags clickhouseFlags
	dataDirFlag     string
	global          globalFlags
	// file is the config file read (empty when none) and sources says, per
	// flag name of the running command, where its value came from.
	file       string
	fileValues map[string]any
	sources    map[string]string
}

// kafkaSettings returns the Kafka client settings of the flags, security
// included, without any network I/O. Brokers is empty when --brokers is not
// given (kafkaConnect and kafka then look for, or start, the embedded one).
func (a *app) kafkaSettings() (stream.ClientConfig, error) {
	cfg := stream.ClientConfig{ClientID: "surge", Logger: a.logger}
	sec, err := a.kafkaSecurity()
	if err != nil {
		return cfg, err
	}
	cfg.Brokers, cfg.Security = a.brokers(), sec
	return cfg, nil
}

// errNoServer marks a connect-only request that found no server to connect
// to (no address given and none running on the data directory). Such errors
// are errUnavailable too.
var errNoServer = errors.New("no server")

type noServerError string

func (e noServerError) Error() string { return string(e) }
func (e noServerError) Is(target error) bool {
	return target == errNoServer || target == errUnavailable
}

// kafkaConnect returns how to reach a running Kafka: --brokers when given,
// else a running 'surge broker' on the data directory. It never starts a
// broker. With SASL or TLS settings, or a broker found on the data
// directory, it first checks that the brokers answer and accept the client,
// so that wrong credentials fail the command at once: refused credentials
// and TLS failures are usage errors, brokers that do not answer are
// unavailable. Without them, --brokers is not dialled here (the clients
// retry while a cluster comes up).
func (a *app) kafkaConnect(ctx context.Context) (stream.ClientConfig, error) {
	cfg, err := a.kafkaSettings()
	if err != nil {
		return cfg, err
	}
	if len(cfg.Brokers) == 0 {
		dir := a.dataDir("kafka")
		addr, ok := runningBroker(dir)
		if !ok {
			return cfg, noServerError("no --brokers given and no 'surge broker' running on " + dir)
		}
		a.logger.Info("using the running embedded broker", "addr", addr, "data_dir", dir)
		cfg.Brokers = []string{addr}
		// Always checked: a 'surge broker' started with SASL or TLS
		// refuses a command without the matching flags.
		return cfg, a.pingKafka(ctx, cfg)
	}
	if !cfg.Security.Enabled() {
		return cfg, nil
	}
	return cfg, a.pingKafka(ctx, cfg)
}

// kafka returns how to reach Kafka: as kafkaConnect, else an embedded
// broker started now on the data directory. The returned func releases what
// was started.
func (a *app) kafka(ctx context.Context) (stream.ClientConfig, func(), error) {
	cfg, err := a.kafkaConnect(ctx)
	if err == nil {
		return cfg, func() {}, nil
	}
	if !errors.Is(err, errNoServer) {
		return cfg, nil, err
	}
	if cfg.Security.Enabled() {
		a.logger.Warn("the embedded broker started here has no SASL or TLS; --kafka-sasl-* and --kafka-tls-* " +
			"apply to --brokers or to a running 'surge broker'")
		cfg.Security = stream.Security{}
	}
	dir := a.dataDir("kafka")
	b, stop, err := a.startEmbeddedBroker(ctx, dir, "127.0.0.1:0", 8)
	if err != nil {
		return cfg, nil, err
	}
	a.logger.Info("started embedded broker", "addr", b.Addrs()[0], "data_dir", dir)
	cfg.Brokers = b.Addrs()
	return cfg, stop, nil
}

// pingKafka checks that the brokers answer and accept the client's
// security settings.
func (a *app) pingKafka(ctx context.Context, cfg stream.ClientConfig) error {
	err := stream.Ping(ctx, cfg)
	switch {
	case err == nil:
		a.logger.Debug("kafka accepted the client", "brokers", cfg.Brokers, "security", cfg.Security)
		return nil
	case errors.Is(err, stream.ErrAuthFailed), errors.Is(err, stream.ErrTLS):
		return fmt.Errorf("%w: %w", errUsage, err)
	default:
		return fmt.Errorf("%w: %w", errUnavailable, err)
	}
}

// clickhouseConnect connects to a running ClickHouse: --clickhouse when
// given, else a local server another surge command runs on the data
// directory. It never starts a server and applies no migrations. timeout,
// when above 0, bounds the dial.
func (a *app) clickhouseConnect(ctx context.Context, timeout time.Duration) (*analytics.Conn, error) {
	cfg, err := a.clickhouseConfig()
	if err != nil {
		return nil, err
	}
	cfg.DialTimeout = timeout
	if cfg.Addr == "" {
		dir := a.dataDir("clickhouse")
		addr, ok := reachable(localClickHouseAddrFile(dir))
		if !ok {
			return nil, noServerError("no --clickhouse given and no local ClickHouse running on " + dir)
		}
		a.logger.Info("using the running local ClickHouse", "addr", addr, "data_dir", dir)
		cfg.Addr, cfg.TLS = addr, analytics.TLSConfig{}
	}
	return a.openClickHouse(ctx, cfg)
}

// clickhouse connects to --clickhouse, or starts (or reuses) the local server
// under the data directory, and applies migrations. The returned func closes
// the connection and stops what was started.
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
		if cfg.Addr, release, err = a.localClickHouse(ctx); err != nil {
			return nil, nil, err
		}
	}
	conn, err := a.openClickHouse(ctx, cfg)
	if err != nil {
		release()
		return nil, nil, err
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

// openClickHouse opens cfg; refused credentials and TLS failures are usage
// errors, a server that does not answer is unavailable.
func (a *app) openClickHouse(ctx context.Context, cfg analytics.Config) (*analytics.Conn, error) {
	conn, err := analytics.Open(ctx, cfg)
	switch {
	case err == nil:
		return conn, nil
	case errors.Is(err, analytics.ErrAuthFailed), errors.Is(err, analytics.ErrTLS):
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	default:
		return nil, fmt.Errorf("%w: %w", errUnavailable, err)
	}
}

// localClickHouse starts the local server on the data directory, or finds
// the one another surge command runs there, and returns its address.
func (a *app) localClickHouse(ctx context.Context) (string, func(), error) {
	dir := a.dataDir("clickhouse")
	addrFile := localClickHouseAddrFile(dir)
	srv, err := analytics.StartLocal(ctx, dir, analytics.WithLogger(a.logger))
	switch {
	case errors.Is(err, analytics.ErrDirInUse):
		// Another surge command runs the local server on this data
		// directory: share it.
		addr, ok := reachable(addrFile)
		if !ok {
			return "", nil, fmt.Errorf("%w: %v", errUnavailable, err)
		}
		a.logger.Info("using the running local ClickHouse", "addr", addr, "data_dir", dir)
		return addr, func() {}, nil
	case errors.Is(err, analytics.ErrServerNotInstalled):
		return "", nil, err
	case err != nil:
		return "", nil, fmt.Errorf("%w: %v", errUnavailable, err)
	}
	a.logger.Info("local ClickHouse ready", "addr", srv.Addr(), "data_dir", dir)
	if err := os.WriteFile(addrFile, []byte(srv.Addr()+"\n"), 0o644); err != nil {
		a.logger.Warn("advertise local ClickHouse", "err", err)
	}
	return srv.Addr(), func() {
		os.Remove(addrFile)
		if err := srv.Stop(); err != nil {
			a.logger.Warn("stop local ClickHouse", "err", err)
		}
	}, nil
}

// localClickHouseAddrFile is where a running local ClickHouse advertises
// its address to other surge commands on the same data directory.
func localClickHouseAddrFile(dir string) string { return filepath.Join(dir, "server.addr") }

// joinResizesTimeout bounds how long a command waits to join the resize
// protocol before it goes on without.
const joinResizesTimeout = 10 * time.Second

// joinResizes makes a command's producer take part in order-safe resizes
// (on by default in surge's commands; the library leaves it to the
// caller). A producer that cannot join still writes; a warning says what a
// resize then cannot promise.
func (a *app) joinResizes(ctx context.Context, p *stream.Producer) {
	ctx, cancel := context.WithTimeout(ctx, joinResizesTimeout)
	defer cancel()
	if err := p.JoinResizes(ctx); err != nil {
		a.logger.Warn("resize control: not taking part in resizes; a resize then cannot keep per-key order for this producer's records", "err", err)
	}
}
