package dispatch_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/surgeio/surge/stream/dispatch"
)

// TestPriorityWhileNormalFull: a normal backlog far larger than the
// normal lane's buffer keeps that lane full, so the dispatcher has stopped
// polling and the rest of the backlog waits in the client's fetch buffer.
// A priority record produced then is still dispatched within a few commit
// intervals (the end offsets listed while a lane is full show it), and the
// normal lane goes on right after without a stall.
func TestPriorityWhileNormalFull(t *testing.T) {
	brokers := cluster(t, 2)
	// Several polls' worth (4096 records each), so that most of the
	// backlog sits in the client's buffer while the dispatcher waits.
	const keysN, perKey = 200, 100
	produce(t, brokers, topics.Orders, keysN, perKey, nil)
	c := newChecker()
	var mu sync.Mutex
	var prAt time.Time
	h := c.handler(func(ctx context.Context, r dispatch.Record) error {
		if r.Lane == dispatch.LanePriority {
			mu.Lock()
			prAt = time.Now()
			mu.Unlock()
			return nil
		}
		time.Sleep(time.Millisecond)
		return nil
	})
	d, _ := runDispatcher(t, append(baseOpts(t, brokers, "full"), dispatch.WithHandler(h),
		dispatch.WithMaxInFlight(16, 8), dispatch.WithMaxBuffered(200))...)
	waitFor(t, 20*time.Second, "the normal backlog under way", func() bool { return d.Stats().Processed >= 300 })
	produced := time.Now()
	pr := produceNamed(t, brokers, topics.OrdersPriority, "p", 1, 1, nil)
	waitFor(t, 20*time.Second, "the priority record handled", func() bool { return len(c.missing(pr, 1, nil)) == 0 })
	left := keysN*perKey - int(d.Stats().Processed)
	mu.Lock()
	wait := prAt.Sub(produced)
	mu.Unlock()
	t.Logf("priority record dispatched %s after it was produced, %d normal records left", wait.Round(time.Millisecond), left)
	if wait > time.Second {
		t.Errorf("priority record waited %s behind the full normal lane, want under 1s (commit interval 100ms)", wait)
	}
	if left < keysN*perKey/4 {
		t.Errorf("only %d normal records left when the priority record ran: the backlog did not hold it back long enough to show anything", left)
	}

	// The normal lane, paused while the priority record was fetched, goes
	// on after it without a stall.
	var stall time.Duration
	last, lastAt := d.Stats().Processed, time.Now()
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end) && d.Stats().Processed < keysN*perKey; {
		time.Sleep(50 * time.Millisecond)
		if n := d.Stats().Processed; n != last {
			last, lastAt = n, time.Now()
		}
		stall = max(stall, time.Since(lastAt))
	}
	if stall > time.Second {
		t.Errorf("the normal lane made no progress for %s, want under 1s", stall.Round(time.Millisecond))
	}
	c.report(t)
}

// TestLoadingWithFullBuffer: a new owner finds a long retry partition to
// read before its source records may start, and more source records than
// its buffer holds arrive meanwhile. Reading the retry partition goes on
// (the held source records fill the buffer, but they wait for it), so
// nothing deadlocks and every record is handled in key order.
func TestLoadingWithFullBuffer(t *testing.T) {
	brokers := cluster(t, 1)
	// More parked records than one poll of the retry partition takes
	// (4096), so that reading it takes several polls.
	const keysN, perKey = 50, 100
	first := produce(t, brokers, topics.Orders, keysN, perKey, nil)
	// The first member fails every call: every record ends up parked in
	// the retry partition, not done there.
	fail := func(ctx context.Context, r dispatch.Record) error { return errors.New("down") }
	d1, stop1 := runDispatcher(t, append(baseOpts(t, brokers, "loading"), dispatch.WithHandler(fail),
		dispatch.WithBackoff(time.Second, time.Second), dispatch.WithRetryBudget(100, time.Hour))...)
	waitFor(t, 20*time.Second, "every record parked", func() bool {
		return d1.Stats().ParkedBehind == keysN*(perKey-1)
	})
	commits := d1.Stats().Commits
	waitFor(t, 5*time.Second, "a commit after", func() bool { return d1.Stats().Commits > commits })
	stop1()

	second := produceNamed(t, brokers, topics.Orders, "v", 30, 10, nil)
	c := newChecker()
	h := c.handler(func(ctx context.Context, r dispatch.Record) error { return nil })
	runDispatcher(t, append(baseOpts(t, brokers, "loading"), dispatch.WithHandler(h), dispatch.WithMaxBuffered(50))...)
	waitFor(t, 30*time.Second, "every record handled", func() bool {
		return len(c.missing(first, perKey, nil)) == 0 && len(c.missing(second, 10, nil)) == 0
	})
	c.report(t)
}
