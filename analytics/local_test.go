package analytics_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
)

// startLocal starts a private server for launcher tests, which stop, kill
// and restart it (the shared testenv server must not be disturbed).
func startLocal(t *testing.T, dir string, opts ...analytics.LocalOpt) *analytics.LocalServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := analytics.StartLocal(ctx, dir, opts...)
	if errors.Is(err, analytics.ErrServerNotInstalled) {
		testenv.Unavailable(t, "clickhouse-server not installed")
	}
	if err != nil {
		t.Fatalf("StartLocal: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return srv
}

func open(t *testing.T, addr string) *analytics.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := analytics.Open(ctx, analytics.Config{Addr: addr, Database: "lifecycle", DialTimeout: time.Second})
	if err != nil {
		t.Fatalf("Open(%s): %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestLocalServerLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	srv := startLocal(t, dir, analytics.WithKafkaEarliest())

	if got, want := srv.Dir(), dir; got != want {
		t.Errorf("Dir() = %q, want %q", got, want)
	}
	if got := srv.Addr(); !strings.HasPrefix(got, "127.0.0.1:") {
		t.Errorf("Addr() = %q, want 127.0.0.1:PORT", got)
	}
	cfg, err := os.ReadFile(filepath.Join(dir, "config.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), "<auto_offset_reset>smallest</auto_offset_reset>") {
		t.Errorf("config.xml lacks the kafka auto_offset_reset setting:\n%s", cfg)
	}

	conn := open(t, srv.Addr())
	if err := conn.DB().Exec(ctx, "CREATE TABLE kept (n UInt32) ENGINE = MergeTree() ORDER BY n"); err != nil {
		t.Fatal(err)
	}
	// On 18.16, INSERT ... VALUES through Exec waits for a data block that
	// clickhouse-go never sends: inserts go through PrepareBatch.
	batch, err := conn.DB().PrepareBatch(ctx, "INSERT INTO kept (n)")
	if err != nil {
		t.Fatal(err)
	}
	if err := batch.Column(0).Append([]uint32{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}

	// A second launcher on the same directory is refused.
	if _, err := analytics.StartLocal(ctx, dir); !errors.Is(err, analytics.ErrDirInUse) {
		t.Errorf("second StartLocal on a busy dir: got %v, want ErrDirInUse", err)
	}

	steps := []struct {
		name string
		do   func() error
	}{
		{"restart", func() error { return srv.Restart(ctx) }},
		{"kill then restart", func() error {
			if err := srv.Kill(); err != nil {
				return err
			}
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			if err := conn.DB().Ping(pctx); err == nil {
				t.Errorf("ping after Kill succeeded, want an error")
			}
			return srv.Restart(ctx)
		}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got, want := testenv.CountRows(t, open(t, srv.Addr()), "kept"), uint64(3); got != want {
			t.Errorf("after %s: got %d rows, want %d (data must persist in the dir)", st.name, got, want)
		}
	}

	if err := srv.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := srv.Stop(); err != nil {
		t.Errorf("second Stop: got %v, want nil (idempotent)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "clickhouse-server.pid")); !os.IsNotExist(err) {
		t.Errorf("pid file after Stop: got %v, want it removed", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := conn.DB().Ping(pctx); err == nil {
		t.Errorf("ping after Stop succeeded, want an error")
	}

	// A stopped server can be restarted; it takes the directory back.
	if err := srv.Restart(ctx); err != nil {
		t.Fatalf("Restart after Stop: %v", err)
	}
	if got, want := testenv.CountRows(t, open(t, srv.Addr()), "kept"), uint64(3); got != want {
		t.Errorf("after Restart from stopped: got %d rows, want %d", got, want)
	}
	if _, err := analytics.StartLocal(ctx, dir); !errors.Is(err, analytics.ErrDirInUse) {
		t.Errorf("StartLocal on a dir retaken by Restart: got %v, want ErrDirInUse", err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}

	// The directory is free again: a new launcher starts on the same data.
	again := startLocal(t, dir)
	if got, want := testenv.CountRows(t, open(t, again.Addr()), "kept"), uint64(3); got != want {
		t.Errorf("new launcher on the old dir: got %d rows, want %d", got, want)
	}
}

// TestStartLocalPidFile covers the pid file a server leaves in its dir: a
// live server from a previous run blocks the dir, a dead one does not.
func TestStartLocalPidFile(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "clickhouse-server.pid")

	// Stand-in for a server orphaned by an earlier run: a live process whose
	// command line names this dir's config. The trailing "; true" keeps the
	// shell from exec-ing sleep in its place, which would drop that argument
	// from the command line.
	orphan := exec.Command("sh", "-c", "sleep 60; true", filepath.Join(dir, "config.xml"))
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = orphan.Process.Kill(); _ = orphan.Wait() }()
	// Until the child has exec'd the shell, its command line is still this
	// test's: wait for the config path to show (Linux; elsewhere a moment).
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(orphan.Process.Pid), "cmdline"))
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			break
		}
		if strings.Contains(string(b), filepath.Join(dir, "config.xml")) {
			break
		}
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(orphan.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := analytics.StartLocal(ctx, dir)
	if errors.Is(err, analytics.ErrServerNotInstalled) {
		testenv.Unavailable(t, "clickhouse-server not installed")
	}
	if !errors.Is(err, analytics.ErrDirInUse) || !strings.Contains(err.Error(), strconv.Itoa(orphan.Process.Pid)) {
		t.Fatalf("StartLocal with a live orphan: got %v, want ErrDirInUse naming pid %d", err, orphan.Process.Pid)
	}

	// Once that process is gone, its stale pid file is ignored.
	_ = orphan.Process.Kill()
	_ = orphan.Wait()
	srv := startLocal(t, dir)
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) == strconv.Itoa(orphan.Process.Pid) {
		t.Errorf("pid file still names the dead process %s", b)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
}

func TestStartLocalMissingBinary(t *testing.T) {
	_, err := analytics.StartLocal(context.Background(), t.TempDir(),
		analytics.WithBinary(filepath.Join(t.TempDir(), "clickhouse-server")))
	if !errors.Is(err, analytics.ErrServerNotInstalled) {
		t.Fatalf("got %v, want ErrServerNotInstalled", err)
	}
	for _, want := range []string{"sudo apt-get install -y clickhouse-server", "make demo", "--clickhouse host:port"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestStartLocalFailureShowsServerLog(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "clickhouse-server")
	script := "#!/bin/sh\necho 'Cannot open configuration: simulated failure' >&2\nexit 70\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := analytics.StartLocal(ctx, t.TempDir(), analytics.WithBinary(fake))
	if err == nil {
		t.Fatal("StartLocal with a failing server: got nil error")
	}
	for _, want := range []string{"exited during start", "simulated failure"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestStartLocalPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = analytics.StartLocal(ctx, t.TempDir(), analytics.WithTCPPort(port))
	if errors.Is(err, analytics.ErrServerNotInstalled) {
		testenv.Unavailable(t, "clickhouse-server not installed")
	}
	if err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("StartLocal on a taken port: got %v, want an error quoting the server's address-in-use log", err)
	}
}
