package analytics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// ErrServerNotInstalled is returned by StartLocal when no clickhouse-server
// binary can be found. Its message tells the user how to get one.
var ErrServerNotInstalled = errors.New("clickhouse-server is not installed: install with " +
	"`sudo apt-get install -y clickhouse-server` (or `make demo`, which installs it), " +
	"or pass --clickhouse host:port to use an existing server")

// ErrDirInUse is returned by StartLocal when the data directory is already
// held by another launcher (in this or another process) or by a
// clickhouse-server left over from a previous run. StartLocal never reuses
// or kills such a server: it reports its pid so the user can decide.
var ErrDirInUse = errors.New("local clickhouse data directory is in use")

const (
	readyTimeout = 30 * time.Second
	stopTimeout  = 15 * time.Second
)

// LocalServer is a private clickhouse-server running as a child process with
// a generated configuration and all of its data under one directory. Data
// persists in that directory across restarts and across LocalServers.
//
// The server runs in its own process group and, on Linux, is killed by the
// kernel if the process that started it dies, so it never outlives surge.
type LocalServer struct {
	dir      string
	tcpPort  int
	httpPort int
	kafka    bool
	partLog  bool
	logger   *slog.Logger
	bin      binary

	mu      sync.Mutex
	lock    *os.File // flock on dir/surge-clickhouse.lock while s owns dir
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has been waited for
	waitErr error
	logs    map[string]int64 // log sizes when cmd started, see logTail
}

// LocalOpt configures StartLocal.
type LocalOpt func(*LocalServer)

// WithTCPPort sets the native-protocol port. Default: a free port chosen at
// start.
func WithTCPPort(port int) LocalOpt { return func(s *LocalServer) { s.tcpPort = port } }

// WithHTTPPort sets the HTTP port. Default: a free port chosen at start.
func WithHTTPPort(port int) LocalOpt { return func(s *LocalServer) { s.httpPort = port } }

// WithBinary sets the server binary to run. A binary whose base name is
// "clickhouse" is run as `clickhouse server`. Default: clickhouse-server on
// PATH, then /usr/sbin/clickhouse-server, then `clickhouse server`.
func WithBinary(path string) LocalOpt {
	return func(s *LocalServer) { s.bin = binaryFor(path) }
}

// WithLogger sets the logger for start and stop events. Default:
// slog.Default().
func WithLogger(l *slog.Logger) LocalOpt { return func(s *LocalServer) { s.logger = l } }

// WithKafkaEarliest makes the server's Kafka table engine start new consumer
// groups at the earliest offset instead of the latest. Default: off.
func WithKafkaEarliest() LocalOpt { return func(s *LocalServer) { s.kafka = true } }

// WithPartLog turns on system.part_log (every part written, merged or
// removed, with its duration), which the benchmarks read.
func WithPartLog() LocalOpt { return func(s *LocalServer) { s.partLog = true } }

// StartLocal writes a configuration under dir, starts clickhouse-server on
// it and returns once the server answers a native ping (or fails after about
// 30 s with the tail of the server's error log). dir is created if missing.
//
// Only one LocalServer may own dir at a time: StartLocal fails with
// ErrDirInUse while another launcher holds it, or while a clickhouse-server
// from a previous run still runs on it.
func StartLocal(ctx context.Context, dir string, opts ...LocalOpt) (*LocalServer, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("local clickhouse dir %q: %w", dir, err)
	}
	s := &LocalServer{dir: abs, logger: slog.Default()}
	for _, o := range opts {
		o(s)
	}
	if s.bin.path == "" {
		if s.bin, err = findBinary(defaultBinaries); err != nil {
			return nil, err
		}
	} else if _, err := os.Stat(s.bin.path); err != nil {
		return nil, fmt.Errorf("%w (%s: %v)", ErrServerNotInstalled, s.bin.path, err)
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	pickTCP, pickHTTP := s.tcpPort == 0, s.httpPort == 0
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("create local clickhouse dir: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.acquireDir(); err != nil {
		return nil, err
	}
	// A free port can be taken by someone else before the server binds it;
	// then try again with fresh ones.
	for attempt := 1; ; attempt++ {
		if err := s.pickPorts(pickTCP, pickHTTP); err != nil {
			s.releaseDir()
			return nil, err
		}
		err = s.start(ctx)
		if err == nil {
			return s, nil
		}
		if attempt == 3 || !(pickTCP || pickHTTP) || !strings.Contains(err.Error(), "already in use") {
			s.releaseDir()
			return nil, err
		}
	}
}

// pickPorts sets the ports it is told to pick to free ones.
func (s *LocalServer) pickPorts(tcp, http bool) error {
	for _, p := range []struct {
		pick bool
		port *int
	}{{tcp, &s.tcpPort}, {http, &s.httpPort}} {
		if !p.pick {
			continue
		}
		port, err := freePort()
		if err != nil {
			return fmt.Errorf("pick a port for local clickhouse: %w", err)
		}
		*p.port = port
	}
	return nil
}

// Addr is the native-protocol address, "127.0.0.1:PORT".
func (s *LocalServer) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.tcpPort))
}

// HTTPAddr is the HTTP interface address, "127.0.0.1:PORT".
func (s *LocalServer) HTTPAddr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.httpPort))
}

// Dir is the absolute data directory.
func (s *LocalServer) Dir() string { return s.dir }

// Stop asks the server to shut down (SIGTERM), waits up to 15 s, then kills
// it, and releases the directory. Stopping a stopped server is a no-op.
func (s *LocalServer) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.stop()
	s.releaseDir()
	return err
}

// Kill kills the server at once (SIGKILL), as a crash would, and waits for
// it to exit. s keeps the directory: Restart brings the server back on the
// same data, Stop releases it.
func (s *LocalServer) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running() {
		return nil
	}
	if err := signalGroup(s.cmd.Process, sigKill); err != nil {
		return fmt.Errorf("kill local clickhouse: %w", err)
	}
	<-s.exited
	s.logger.Info("local clickhouse killed", slog.String("dir", s.dir))
	return nil
}

// Restart stops the server if it runs, then starts it again on the same
// directory and ports and waits until it answers.
func (s *LocalServer) Restart(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.stop(); err != nil {
		return err
	}
	if s.lock == nil {
		if err := s.acquireDir(); err != nil {
			return err
		}
	}
	return s.start(ctx)
}

func (s *LocalServer) running() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// start writes the configuration, launches the server and waits until it
// answers. The caller holds s.mu and the directory lock.
func (s *LocalServer) start(ctx context.Context) error {
	if err := writeConfig(s.dir, s.tcpPort, s.httpPort, s.kafka, s.partLog); err != nil {
		return err
	}
	console, err := os.OpenFile(filepath.Join(s.dir, "log", "console.log"),
		os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open local clickhouse console log: %w", err)
	}
	defer console.Close() // the child keeps its own descriptor
	s.logs = logSizes(s.dir)
	args := append(append([]string(nil), s.bin.args...), "--config-file="+filepath.Join(s.dir, "config.xml"))
	cmd := exec.Command(s.bin.path, args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = console, console
	cmd.SysProcAttr = procAttr()
	exited, started := make(chan struct{}), make(chan error, 1)
	// Linux sends the parent-death signal when the thread that started the
	// child ends, not the process, and the Go runtime ends any thread whose
	// locked goroutine exits. So a goroutine locked to its own thread starts
	// the server and keeps that thread until the server has exited.
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		err := cmd.Wait()
		s.waitErr = err
		close(exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start %s: %w", s.bin.path, err)
	}
	s.cmd, s.exited = cmd, exited
	if err := os.WriteFile(s.pidFile(), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		_ = s.stop()
		return fmt.Errorf("write local clickhouse pid file: %w", err)
	}
	if err := s.waitReady(ctx); err != nil {
		_ = s.stop()
		return err
	}
	s.logger.Info("local clickhouse started", slog.String("addr", s.Addr()),
		slog.String("dir", s.dir), slog.Int("pid", cmd.Process.Pid))
	return nil
}

// waitReady pings the server until it answers, it exits, or readyTimeout
// passes.
func (s *LocalServer) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	db, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{s.Addr()},
		Protocol:    clickhouse.Native,
		DialTimeout: time.Second,
	})
	if err != nil {
		return fmt.Errorf("local clickhouse client: %w", err)
	}
	defer db.Close()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		last = db.Ping(pctx)
		pcancel()
		if last == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("local clickhouse exited during start (%v); server log:\n%s",
				s.waitErr, logTail(s.dir, s.logs))
		case <-ctx.Done():
			return fmt.Errorf("local clickhouse at %s did not answer within %s (%v); server log:\n%s",
				s.Addr(), readyTimeout, last, logTail(s.dir, s.logs))
		case <-tick.C:
		}
	}
}

// stop ends the server: SIGTERM, then SIGKILL after stopTimeout. The caller
// holds s.mu.
func (s *LocalServer) stop() error {
	if !s.running() {
		return nil
	}
	if err := signalGroup(s.cmd.Process, sigTerm); err != nil {
		return fmt.Errorf("stop local clickhouse: %w", err)
	}
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		s.logger.Warn("local clickhouse did not stop in time; killing it", slog.String("dir", s.dir))
		if err := signalGroup(s.cmd.Process, sigKill); err != nil {
			return fmt.Errorf("kill local clickhouse: %w", err)
		}
		<-s.exited
	}
	_ = os.Remove(s.pidFile())
	s.logger.Info("local clickhouse stopped", slog.String("dir", s.dir))
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
