package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/surgeio/surge/stream/broker"
)

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
