package dispatch_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// surgeBinary builds the surge command once per test binary.
var surgeBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "surge-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "surge")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/surge").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build surge: %v\n%s", err, out)
	}
	return bin, nil
})

func startDispatchProcess(t *testing.T, brokers []string, url string, logf *os.File) *exec.Cmd {
	t.Helper()
	bin, err := surgeBinary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "dispatch", "--brokers", strings.Join(brokers, ","), "--group", "killed",
		"--to", url, "--timeout", "2s", "--commit-interval", "200ms", "--backoff", "20ms", "--max-backoff", "200ms",
		"--max-attempts", "100", "--session-timeout", "1s", "--rebalance-timeout", "3s", "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "SURGE_CONFIG=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// TestKill9AndRestart kills `surge dispatch` with SIGKILL twice while it
// delivers to a webhook that fails 10% of calls, restarting it each time:
// in the end every record was delivered successfully at least once, no key
// ever skipped ahead, and the redeliveries stay bounded.
func TestKill9AndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 test builds and runs the surge binary; runs without -short (and always in CI)")
	}
	brokers := cluster(t, 8)
	const keysN, perKey = 200, 20
	total := keysN * perKey
	svc, srv := newService(func(id string) int {
		if flaky(id, int(time.Now().UnixNano()/int64(time.Millisecond))%7, 0.1) {
			return http.StatusServiceUnavailable
		}
		time.Sleep(2 * time.Millisecond)
		return http.StatusOK
	})
	defer srv.Close()
	keys := produce(t, brokers, topics.Orders, keysN, perKey, nil)
	logf, err := os.CreateTemp(t.TempDir(), "dispatch-*.log")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("dispatch logs:\n%s", b)
		}
	})
	killedAt := 0
	for i, at := range []int{total / 4, total / 2} {
		cmd := startDispatchProcess(t, brokers, srv.URL, logf)
		waitFor(t, 60*time.Second, fmt.Sprintf("%d successes before kill %d", at, i+1), func() bool { return svc.c.successes() >= at })
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		killedAt += svc.c.successes()
		t.Logf("killed after %d successes", svc.c.successes())
	}
	cmd := startDispatchProcess(t, brokers, srv.URL, logf)
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	waitFor(t, 60*time.Second, "every record delivered", func() bool { return len(svc.c.missing(keys, perKey, nil)) == 0 })
	svc.c.report(t)
	dups := svc.c.successes() - total
	t.Logf("records %d, successful deliveries %d, duplicates %d, redelivered calls %d", total, svc.c.successes(), dups, svc.c.replays)
	// A kill redelivers at most what was done above the commit point, so a
	// record is delivered successfully at most once per process that ran.
	if got := svc.c.maxDelivered(); got > 3 {
		t.Errorf("a record was delivered successfully %d times, want at most 3 (one per process)", got)
	}
	if dups < 0 || dups > killedAt {
		t.Errorf("got %d duplicate deliveries, want between 0 and %d (what was done before the kills)", dups, killedAt)
	}
}
