package broker_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// brokerProcess is `surge broker` run as a child process, to be killed.
type brokerProcess struct {
	t       *testing.T
	addr    string
	dataDir string
	log     *os.File
	cmd     *exec.Cmd
}

// startBrokerProcess runs `surge broker` on a free loopback port with its
// data under a temporary directory, and waits until it answers. Its log is
// shown when the test fails.
func startBrokerProcess(t *testing.T) *brokerProcess {
	t.Helper()
	log, err := os.CreateTemp(t.TempDir(), "broker-*.log")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := os.ReadFile(log.Name())
			t.Logf("surge broker log:\n%s", out)
		}
	})
	b := &brokerProcess{t: t, addr: testenv.FreeAddr(t), dataDir: t.TempDir(), log: log}
	b.start()
	t.Cleanup(func() {
		if b.cmd != nil {
			_ = b.cmd.Process.Kill()
			_ = b.cmd.Wait()
		}
	})
	return b
}

// start runs the broker on b's address and data directory and waits until
// a client gets metadata from it.
func (b *brokerProcess) start() {
	b.t.Helper()
	b.cmd = testenv.StartSurge(b.t, b.log, "broker", "--addr", b.addr,
		"--data-dir", b.dataDir, "--partitions", "8", "--log-level", "debug")
	cl := b.client()
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		if _, err := kadm.NewClient(cl).BrokerMetadata(ctx); err == nil {
			return
		}
		if ctx.Err() != nil {
			b.t.Fatalf("surge broker on %s did not answer within a minute", b.addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill9 kills the broker with SIGKILL and reaps it.
func (b *brokerProcess) kill9() {
	_ = b.cmd.Process.Kill()
	_ = b.cmd.Wait()
	b.cmd = nil
}

// logCount counts the lines of the broker's log that contain s.
func (b *brokerProcess) logCount(s string) int {
	out, _ := os.ReadFile(b.log.Name())
	return strings.Count(string(out), s)
}

func (b *brokerProcess) client(opts ...kgo.Opt) *kgo.Client {
	b.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addr)}, opts...)...)
	if err != nil {
		b.t.Fatal(err)
	}
	return cl
}
