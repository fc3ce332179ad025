package triggers_test

import (
	"math/rand/v2"
	"os/exec"
	"testing"
	"time"

	"github.com/surgeio/surge/internal/testenv"
)

// TestExactlyOnceUnderPause pauses one of two `surge triggers` processes
// (SIGSTOP, as a VM or container freeze does) for three times its session
// timeout, three times, while input keeps arriving: the other instance takes
// its partitions, and the paused one's transaction, if it had one open, must
// not become visible on resume (its offsets commit is refused, the
// transaction aborts). The coupons readable with read_committed must be
// exactly those of an uninterrupted run: no duplicate, none missing.
func TestExactlyOnceUnderPause(t *testing.T) {
	if testing.Short() {
		t.Skip("pause test is long; runs without -short (and always in CI)")
	}
	brokers := testenv.Broker(t, 8, topics.All()...)
	path, set := writeRules(t, testRules)
	logf := testenv.LogFile(t, "triggers")
	rng := rand.New(rand.NewPCG(13, 14))
	base := time.Now().Add(-10 * time.Minute)
	recs := genInput(rng, 20_000, 1000, base)
	produce(t, brokers, recs[:5_000])
	produced := produceInSteps(t, brokers, recs[5_000:], 500) // the rest arrives during the pauses

	// Session timeout 2s (startTriggersProcess): a 6 s pause is well past it.
	procs := [2]*exec.Cmd{startTriggersProcess(t, brokers, path, "p0", logf), startTriggersProcess(t, brokers, path, "p1", logf)}
	time.Sleep(2 * time.Second)
	for round := range 3 {
		testenv.Freeze(t, procs[round%2], 6*time.Second)
		time.Sleep(2 * time.Second)
	}
	produced()
	want := expected(t, set, recs, 8)
	got := coupons(t, brokers, len(want), 6*time.Second, 90*time.Second)
	checkSet(t, got, want)
	testenv.Stop(procs[:]...)
	t.Logf("%d events, %d coupons, 3 pauses of 6 s (session timeout 2 s)", len(recs), len(want))
}
