package dispatch_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/surgeio/surge/internal/testenv"
)

func startDispatchProcess(t *testing.T, brokers []string, url string, logf *os.File, extra ...string) *exec.Cmd {
	t.Helper()
	args := append([]string{"dispatch", "--brokers", strings.Join(brokers, ","), "--group", "killed",
		"--to", url, "--timeout", "2s", "--backoff", "20ms", "--max-backoff", "200ms",
		"--max-attempts", "100", "--session-timeout", "1s", "--rebalance-timeout", "3s", "--log-level", "warn"}, extra...)
	return testenv.StartSurge(t, logf, args...)
}

// successesIn counts the successful deliveries the service answered in
// [from, to).
func (s *service) successesIn(from, to time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ds := range s.byEvent {
		for _, d := range ds {
			if d.status/100 == 2 && !d.at.Before(from) && d.at.Before(to) {
				n++
			}
		}
	}
	return n
}

// TestKill9AndRestart kills `surge dispatch` with SIGKILL twice while it
// delivers to a webhook that fails 10% of calls, restarting it each time:
// in the end every record was delivered successfully at least once, no key
// ever skipped ahead, and the redeliveries stay within the design's bound.
//
// The bound: offsets are committed every commit interval with the offsets
// done above the commit point in the commit metadata, so a kill redelivers
// only what was done since the last commit, plus the calls running at the
// kill (the service may have answered them; the dead process never heard).
// Counted at the service: the successes answered from one commit interval
// (plus slack for the commit's round trip and scheduling on a loaded
// machine) before the kill until the next process starts.
func TestKill9AndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 test builds and runs the surge binary; runs without -short (and always in CI)")
	}
	// surge's embedded broker, as `surge dispatch` gets with no --brokers:
	// its group watch removes a member killed mid-rebalance at once.
	brokers := testenv.Broker(t, 8, topics.Orders, topics.OrdersPriority, topics.DeadLetters)
	const keysN, perKey = 200, 20
	const commitInterval, slack = 200 * time.Millisecond, 300 * time.Millisecond
	total := keysN * perKey
	svc, srv := newService(func(id string) int {
		if flaky(id, int(time.Now().UnixNano()/int64(time.Millisecond))%7, 0.1) {
			return http.StatusServiceUnavailable
		}
		time.Sleep(5 * time.Millisecond)
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
	// At most 4 calls at once (under 800 records/s with 5 ms calls), so
	// that the kills come several commit intervals into each process.
	extra := []string{"--commit-interval", commitInterval.String(), "--max-in-flight", "4"}
	var bound int
	var killedAt []int
	for i, at := range []int{total / 4, total / 2} {
		cmd := startDispatchProcess(t, brokers, srv.URL, logf, extra...)
		waitFor(t, 60*time.Second, fmt.Sprintf("%d successes before kill %d", at, i+1), func() bool { return svc.c.successes() >= at })
		time.Sleep(time.Duration(rand.IntN(100)) * time.Millisecond)
		kill := time.Now()
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		time.Sleep(50 * time.Millisecond) // calls the service still answers after the kill
		window := svc.successesIn(kill.Add(-commitInterval-slack), time.Now())
		bound += window
		killedAt = append(killedAt, svc.c.successes())
		t.Logf("kill %d after %d successes; %d of them in the last commit interval + slack", i+1, svc.c.successes(), window)
	}
	cmd := startDispatchProcess(t, brokers, srv.URL, logf, extra...)
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	waitFor(t, 60*time.Second, "every record delivered", func() bool { return len(svc.c.missing(keys, perKey, nil)) == 0 })
	svc.c.report(t)
	dups := svc.c.successes() - total
	t.Logf("records %d, successful deliveries %d, duplicates %d (bound %d), redelivered calls %d", total, svc.c.successes(), dups, bound, svc.c.replays)
	// A kill redelivers at most what was done above the commit point, so a
	// record is delivered successfully at most once per process that ran.
	if got := svc.c.maxDelivered(); got > 3 {
		t.Errorf("a record was delivered successfully %d times, want at most 3 (one per process)", got)
	}
	if dups < 0 || dups > bound {
		t.Errorf("got %d duplicate deliveries, want between 0 and %d (the successes within a commit interval + %s of the kills)", dups, bound, slack)
	}
}

func TestMain(m *testing.M) { testenv.Main(m) }
