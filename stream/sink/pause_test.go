package sink_test

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/surgeio/surge/internal/testenv"
)

// TestSinkPausedInstanceWritesNoStaleBatch pauses one of two sink processes
// (SIGSTOP, as a VM or container freeze does) for three times its session
// timeout, three times, while records keep arriving: the other instance
// takes its partitions, and on resume the paused one must not write the
// batch it held. In the end ClickHouse holds every record exactly once.
func TestSinkPausedInstanceWritesNoStaleBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("pause test is long; runs without -short (and always in CI)")
	}
	kc := testenv.KafkaCluster(t, 8, topics.All(), kfake.GroupMinSessionTimeout(500*time.Millisecond))
	brokers := kc.ListenAddrs()
	ch := testenv.ClickHouseConn(t)
	srv := testenv.ClickHouse(t)
	logf := testenv.LogFile(t, "sink")
	rng := rand.New(rand.NewPCG(31, 32))
	recs, w := genRecords(rng, 20_000, time.Now().Add(-time.Hour))
	produce(t, brokers, recs)

	var prodWG sync.WaitGroup
	var prodMu sync.Mutex
	stopProducing := make(chan struct{})
	prodWG.Add(1)
	go func() { // ends when stopProducing closes
		defer prodWG.Done()
		r := rand.New(rand.NewPCG(33, 34))
		for {
			select {
			case <-stopProducing:
				return
			case <-time.After(200 * time.Millisecond):
			}
			more, w2 := genRecords(r, 1000, time.Now())
			produce(t, brokers, more)
			prodMu.Lock()
			w.add(w2)
			prodMu.Unlock()
		}
	}()

	// Session timeout 2s (startSinkProcess): a 6 s pause is well past it.
	procs := [2]*exec.Cmd{startSinkProcess(t, brokers, ch, srv.Addr(), logf), startSinkProcess(t, brokers, ch, srv.Addr(), logf)}
	defer func() { // a failed test leaves no sink running
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGCONT)
			_ = p.Process.Kill()
			_ = p.Wait()
		}
	}()
	time.Sleep(3 * time.Second)
	for round := range 3 {
		testenv.Freeze(t, procs[round%2], 6*time.Second)
		time.Sleep(3 * time.Second)
	}
	close(stopProducing)
	prodWG.Wait()
	waitFor(t, ch, w, 90*time.Second)
	time.Sleep(2 * time.Second) // let any stale (duplicate) write show up before checking
	for _, p := range procs {
		_ = p.Process.Signal(syscall.SIGTERM)
		_ = p.Wait()
	}
	checkExact(t, ch, w)
	log, _ := os.ReadFile(logf.Name())
	t.Logf("%d records through 3 pauses of 6 s (session timeout 2 s); %d stale batches dropped on resume",
		w.total, strings.Count(string(log), "dropping its batch"))
}
