package testenv

import (
	"bufio"
	"fmt"
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
	"zookeeper.jar", "zookeeper-jute.jar", "slf4j-api.jar", "slf4j-nop.jar",
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

// StartZooKeeper starts ZooKeeper on a free loopback port and kills it
// when the test ends. Without java or the jars it calls Unavailable.
func StartZooKeeper(t testing.TB) *ZooKeeper {
	t.Helper()
	java, err := exec.LookPath("java")
	if err != nil {
		Unavailable(t, "java not installed (ZooKeeper needs it): install default-jre-headless and zookeeper")
	}
	cp := []string{}
	for _, j := range zooKeeperJars {
		p := filepath.Join(javaShare, j)
		if _, err := os.Stat(p); err != nil {
			Unavailable(t, "ZooKeeper jar "+p+" missing: install zookeeper (apt-get install zookeeper)")
		}
		cp = append(cp, p)
	}
	dir := t.TempDir()
	z := &ZooKeeper{Port: freePort(t), done: make(chan struct{})}
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
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "zookeeper.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	z.cmd = exec.Command(java, "-Xmx256m", "-XX:+UseSerialGC", "-cp", strings.Join(append([]string{dir}, cp...), ":"),
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
		t.Fatalf("start zookeeper: %v", err)
	}
	t.Cleanup(z.kill)
	deadline := time.Now().Add(30 * time.Second)
	for !z.ok() {
		select {
		case <-z.done:
			b, _ := os.ReadFile(filepath.Join(dir, "zookeeper.log"))
			t.Fatalf("zookeeper exited during start:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "zookeeper.log"))
			t.Fatalf("zookeeper did not answer ruok within 30s:\n%s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return z
}

// ok reports whether ZooKeeper answers "ruok" with "imok".
func (z *ZooKeeper) ok() bool {
	c, err := net.DialTimeout("tcp", z.Addr(), time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ruok")); err != nil {
		return false
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.HasPrefix(line, "imok")
}

func (z *ZooKeeper) kill() {
	if z.cmd.Process != nil {
		_ = z.cmd.Process.Kill()
		<-z.done
	}
}
