package analytics_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
)

// freePort returns a loopback TCP port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startLocalWithFiles starts a private clickhouse-server whose data
// directory first receives files (path relative to it -> content, e.g.
// config.d/x.xml drop-ins), and stops it when the test ends. what names
// the server in a failure.
func startLocalWithFiles(t *testing.T, what string, files map[string]string, opts ...analytics.LocalOpt) *analytics.LocalServer {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := analytics.StartLocal(ctx, dir, append(opts, analytics.WithLogger(slog.New(slog.DiscardHandler)))...)
	if errors.Is(err, analytics.ErrServerNotInstalled) {
		testenv.Unavailable(t, "clickhouse-server not installed")
	}
	if err != nil {
		t.Fatalf("start %s: %v", what, err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("stop %s: %v", what, err)
		}
	})
	return srv
}
