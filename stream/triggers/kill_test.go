package triggers_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/surgeio/surge/internal/testenv"
)

// killLogLevel is the log level of the processes of the kill test; their
// logs are shown when it fails.
var killLogLevel = "info"

func startTriggersProcess(t *testing.T, brokers []string, rulesPath, instance string, logf *os.File) *exec.Cmd {
	t.Helper()
	return testenv.StartSurge(t, logf, "triggers", "--brokers", strings.Join(brokers, ","), "--rules", rulesPath,
		"--instance-id", instance, "--idle-timeout", "3s", "--transaction-timeout", "3s",
		"--session-timeout", "2s", "--rebalance-timeout", "4s", "--log-level", killLogLevel)
}

// TestExactlyOnceUnderKill9 kills `surge triggers` processes with SIGKILL at
// random moments while two of them share the partitions, restarting each
// with its instance id; the coupons readable with read_committed must be
// exactly those of an uninterrupted run over the same input.
func TestExactlyOnceUnderKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 test is long; runs without -short (and always in CI)")
	}
	// surge's embedded broker, as `surge triggers` gets with no --brokers:
	// its group watch removes a member killed mid-rebalance at once.
	brokers := testenv.Broker(t, 8, topics.All()...)
	path, set := writeRules(t, testRules)
	logf := testenv.LogFile(t, "triggers")
	rng := rand.New(rand.NewPCG(11, 12))
	base := time.Now().Add(-10 * time.Minute)
	recs := genInput(rng, 20_000, 1000, base)
	produce(t, brokers, recs[:10_000])
	produced := produceInSteps(t, brokers, recs[10_000:], 1000) // the rest arrives during the kills

	procs := [2]*exec.Cmd{startTriggersProcess(t, brokers, path, "k0", logf), startTriggersProcess(t, brokers, path, "k1", logf)}
	kills := 0
	for round := range 6 {
		time.Sleep(time.Duration(400+rng.IntN(1200)) * time.Millisecond)
		i := round % 2
		if round == 3 {
			_ = procs[i].Process.Signal(syscall.SIGTERM) // one clean leave: the revoke path
		} else {
			_ = procs[i].Process.Kill()
			kills++
		}
		_ = procs[i].Wait()
		procs[i] = startTriggersProcess(t, brokers, path, fmt.Sprintf("k%d", i), logf)
	}
	produced()
	want := expected(t, set, recs, 8)
	got := coupons(t, brokers, len(want), 6*time.Second, 90*time.Second)
	checkSet(t, got, want)
	stop := syscall.SIGTERM
	if t.Failed() {
		stop = syscall.SIGQUIT // the goroutine stacks go to the log
	}
	for _, p := range procs {
		_ = p.Process.Signal(stop)
		_ = p.Wait()
	}
	// No input is late (each input partition's event times ascend): a
	// dead letter here means a restart made the runner misjudge lateness.
	if dls := readDeadLetters(t, brokers); len(dls) != 0 {
		t.Errorf("got %d dead letters, want none; first: %s", len(dls), dls[0].Reason)
	}
	t.Logf("%d events, %d coupons, %d kill -9s", len(recs), len(want), kills)
}
