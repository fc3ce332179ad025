package testenv

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// zooKeeperJars are the jars, from Debian's zookeeper package and its
// dependencies in /usr/share/java, that a standalone ZooKeeper server needs.
var zooKeeperJars = []string{
	"zookeeper.jar", "zookeeper-jute.jar", "slf4j-api.jar", "slf4j-simple.jar",
	"netty-handler.jar", "netty-common.jar", "netty-buffer.jar", "netty-transport.jar",
	"netty-resolver.jar", "netty-codec.jar", "netty-transport-native-epoll.jar",
	"netty-transport-native-unix-common.jar", "metrics-core.jar", "commons-cli.jar",
	"commons-io.jar", "snappy-java.jar",
}

// javaShare is where Debian installs the jars.
const javaShare = "/usr/share/java"

// ZooKeeper is a standalone ZooKeeper server run unprivileged from
// Debian's jars, with its data in a test's temporary directory.
type ZooKeeper struct {
	Port int
	cmd  *exec.Cmd
	done chan struct{}
}

// Addr is "127.0.0.1:PORT".
func (z *ZooKeeper) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(z.Port)) }

// ErrZooKeeperNotInstalled is returned by LaunchZooKeeper without java or
// Debian's zookeeper jars.
var ErrZooKeeperNotInstalled = errors.New("zookeeper is not installed: install default-jre-headless and zookeeper (apt-get install zookeeper), as make deps does")

// StartZooKeeper starts ZooKeeper on a free loopback port and kills it
// when the test ends. Without java or the jars it calls Unavailable.
func StartZooKeeper(t testing.TB) *ZooKeeper {
	t.Helper()
	z, err := LaunchZooKeeper(t.TempDir())
	if errors.Is(err, ErrZooKeeperNotInstalled) {
		Unavailable(t, err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(z.Stop)
	return z
}

// LaunchZooKeeper starts ZooKeeper with its data under dir and waits until
// it answers; Stop kills it.
func LaunchZooKeeper(dir string) (*ZooKeeper, error) {
	java, cp, err := zooKeeperClasspath()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// A free port can be taken by another process before ZooKeeper binds
	// it: then start again on a fresh one.
	for attempt := 1; ; attempt++ {
		port, err := pickPort()
		if err != nil {
			return nil, err
		}
		z, err := launchZooKeeperOn(dir, java, cp, port)
		if err == nil || attempt == portAttempts || !strings.Contains(err.Error(), "already in use") {
			return z, err
		}
	}
}

// zooKeeperClasspath finds java and the jars.
func zooKeeperClasspath() (string, []string, error) {
	java, err := exec.LookPath("java")
	if err != nil {
		return "", nil, ErrZooKeeperNotInstalled
	}
	cp := []string{}
	for _, j := range zooKeeperJars {
		p := filepath.Join(javaShare, j)
		if _, err := os.Stat(p); err != nil {
			return "", nil, fmt.Errorf("%w (%s missing)", ErrZooKeeperNotInstalled, p)
		}
		cp = append(cp, p)
	}
	return java, cp, nil
}

// launchZooKeeperOn starts ZooKeeper once, on port.
func launchZooKeeperOn(dir, java string, cp []string, port int) (*ZooKeeper, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	z := &ZooKeeper{Port: port, done: make(chan struct{})}
	cfg := fmt.Sprintf(`tickTime=500
initLimit=10
syncLimit=5
dataDir=%s
clientPort=%d
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,mntr
minSessionTimeout=1000
maxSessionTimeout=60000
`, filepath.Join(dir, "data"), z.Port)
	if err := os.WriteFile(filepath.Join(dir, "zoo.cfg"), []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "zookeeper.log")
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	// slf4j-simple at warn: the log says why ZooKeeper exited (a port
	// taken between picking and binding is retried on its message).
	z.cmd = exec.Command(java, "-Xmx256m", "-XX:+UseSerialGC", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", strings.Join(append([]string{dir}, cp...), ":"),
		"org.apache.zookeeper.server.quorum.QuorumPeerMain", filepath.Join(dir, "zoo.cfg"))
	z.cmd.Dir = dir
	z.cmd.Stdout, z.cmd.Stderr = log, log
	z.cmd.SysProcAttr = childProcAttr()
	started := make(chan error, 1)
	// The parent-death signal follows the thread that started the child:
	// keep that thread until the child has exited (see analytics.StartLocal).
	go func() {
		runtime.LockOSThread()
		if err := z.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = z.cmd.Wait()
		close(z.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start zookeeper: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !z.ok() {
		select {
		case <-z.done:
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("zookeeper exited during start:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			z.Stop()
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("zookeeper did not serve within 30s:\n%s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return z, nil
}

// ok reports whether ZooKeeper serves requests: "srvr" names its mode.
// "ruok" is not enough: ZooKeeper answers "imok" as soon as it listens,
// before it serves sessions, and closes the handshake of a client that
// connects then. A clickhouse-server 18.16 whose first ZooKeeper session
// failed that way can crash (segmentation fault in the DDL worker) on its
// first ON CLUSTER query.
func (z *ZooKeeper) ok() bool {
	c, err := net.DialTimeout("tcp", z.Addr(), time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("srvr")); err != nil {
		return false
	}
	b, _ := io.ReadAll(c)
	return strings.Contains(string(b), "Mode: ")
}

// Stop kills ZooKeeper and waits for it to exit.
func (z *ZooKeeper) Stop() {
	if z.cmd.Process != nil {
		_ = z.cmd.Process.Kill()
		<-z.done
	}
}
