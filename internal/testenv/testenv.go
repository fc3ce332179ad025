// Package testenv gives tests across surge the real servers they run
// against: a local clickhouse-server shared by a test binary, a fresh
// migrated database per test, and an in-process Kafka-protocol broker
// (kfake).
//
// A package that uses ClickHouse declares
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// so that the shared server is stopped and its directory removed when the
// tests end. (Without it the server still dies with the test binary, on
// Linux, but its temporary directory stays behind.)
//
// When a server cannot be had, tests fail if the environment variable CI is
// "true" and are skipped otherwise.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
)

var shared struct {
	once sync.Once
	srv  *analytics.LocalServer
	dir  string
	err  error
}

// Main runs the tests, then stops the shared ClickHouse server if one was
// started and removes its directory, and exits with the tests' code.
func Main(m *testing.M) {
	code := m.Run()
	if shared.srv != nil {
		_ = shared.srv.Stop()
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
	if surgeBin.dir != "" {
		_ = os.RemoveAll(surgeBin.dir)
	}
	os.Exit(code)
}

// InCI reports whether the tests run under CI (the environment variable CI
// is "true"), where a missing server is a failure rather than a skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Unavailable ends the test because a server it needs is missing: t.Fatal
// under CI, t.Skip otherwise.
func Unavailable(t testing.TB, reason string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s (CI=true, so this is a failure)", reason)
	}
	t.Skipf("%s; skipped outside CI, under CI (CI=true) this fails", reason)
}

// ClickHouse returns the local clickhouse-server shared by every test of
// this test binary, starting it on first use in a temporary directory. Tests
// must not stop, kill or restart it; tests of the launcher start their own.
func ClickHouse(t testing.TB) *analytics.LocalServer {
	t.Helper()
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "surge-clickhouse-test-")
		if shared.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		shared.srv, shared.err = analytics.StartLocal(ctx, shared.dir,
			analytics.WithLogger(slog.New(slog.DiscardHandler)))
	})
	if errors.Is(shared.err, analytics.ErrServerNotInstalled) {
		Unavailable(t, "clickhouse-server not installed")
	}
	if shared.err != nil {
		t.Fatalf("start local clickhouse: %v", shared.err)
	}
	return shared.srv
}

// ClickHouseConn opens a fresh, uniquely named database ("t_" and random
// hex) on the shared server, applies the migrations, and drops the database
// when the test ends.
func ClickHouseConn(t testing.TB) *analytics.Conn {
	t.Helper()
	srv := ClickHouse(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := analytics.Open(ctx, analytics.Config{Addr: srv.Addr(), Database: name})
	if err != nil {
		t.Fatalf("open clickhouse database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := conn.DB().Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Errorf("drop clickhouse database %s: %v", name, err)
		}
		conn.Close()
	})
	if _, err := conn.Migrate(ctx); err != nil {
		t.Fatalf("migrate clickhouse database %s: %v", name, err)
	}
	return conn
}

// FreeAddr returns a loopback address whose port was free a moment ago,
// for a server a test starts (a child process's --addr or --metrics-addr).
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// CollidingTopics returns two topic names of one analytics.TopicID, found
// by search (the sink must refuse them side by side).
func CollidingTopics(t testing.TB) (string, string) {
	t.Helper()
	// The first clash among "topic-0", "topic-1", ... (found by a search
	// over 2^20 names; the check below keeps it honest).
	a, b := "topic-82801", "topic-699900"
	if analytics.TopicID(a) != analytics.TopicID(b) {
		t.Fatalf("%s and %s no longer have one TopicID (%d, %d)", a, b, analytics.TopicID(a), analytics.TopicID(b))
	}
	return a, b
}

// CountRows returns SELECT count() FROM from (a table, and a WHERE clause
// if any) on conn, failing the test on an error.
func CountRows(t testing.TB, conn *analytics.Conn, from string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.DB().QueryRow(context.Background(), "SELECT count() FROM "+from).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", from, err)
	}
	return n
}
