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
func (a *app) startEmbeddedBroker(ctx context.Context, dir, addr string, partitions int32) (*broker.Broker, func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("create broker data directory: %w", err)
	}
	b, err := broker.Start(ctx,
		broker.WithAddr(addr),
		broker.WithDataDir(dir),
		broker.WithPartitions(int(partitions)),
		broker.WithLogger(a.brokerLogger()),
	)
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
// The returned func releases what was started.
func (a *app) kafka(ctx context.Context) (stream.ClientConfig, func(), error) {
	cfg := stream.ClientConfig{ClientID: "surge", Logger: a.logger}
	if bs := a.brokers(); len(bs) > 0 {
		cfg.Brokers = bs
		return cfg, func() {}, nil
	}
	dir := a.dataDir("kafka")
	if addr, ok := runningBroker(dir); ok {
		a.logger.Info("using the running embedded broker", "addr", addr, "data_dir", dir)
		cfg.Brokers = []string{addr}
		return cfg, func() {}, nil
	}
	b, stop, err := a.startEmbeddedBroker(ctx, dir, "127.0.0.1:0", 8)
	if err != nil {
		return cfg, nil, err
	}
	a.logger.Info("started embedded broker", "addr", b.Addrs()[0], "data_dir", dir)
	cfg.Brokers = b.Addrs()
	return cfg, stop, nil
}

// clickhouse connects to --clickhouse, or starts (or reuses) the local server
// under the data directory, and applies migrations.
func (a *app) clickhouse(ctx context.Context) (*analytics.Conn, func(), error) {
	cfg := analytics.Config{
		Addr:     a.v.GetString("clickhouse"),
		User:     a.v.GetString("clickhouse-user"),
		Password: a.v.GetString("clickhouse-password"),
		Database: a.v.GetString("clickhouse-database"),
	}
	release := func() {}
	if cfg.Addr == "" {
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
