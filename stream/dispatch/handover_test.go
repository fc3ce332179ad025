package dispatch_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/surgeio/surge/stream/dispatch"
)

// TestHandoverSkipsDoneAboveCommitPoint: a record whose handler never
// returns holds its partition's commit point while every other record is
// done. The commit metadata records those as done, so the next member of
// the group delivers only the stuck record and the records of its key
// queued behind it, not everything above the commit point.
func TestHandoverSkipsDoneAboveCommitPoint(t *testing.T) {
	brokers := cluster(t, 2)
	const keysN, perKey = 40, 10
	keys := produce(t, brokers, topics.Orders, keysN, perKey, nil)
	stuck := "e-" + keys[0] + "-0"
	c := newChecker()
	var started atomic.Bool
	h1 := c.handler(func(ctx context.Context, r dispatch.Record) error {
		if r.EventID == stuck {
			started.Store(true)
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	})
	d1, stop1 := runDispatcher(t, append(baseOpts(t, brokers, "handover"), dispatch.WithHandler(h1),
		dispatch.WithRevokeTimeout(300*time.Millisecond))...)
	want := keysN*perKey - perKey // all but the stuck key's
	waitFor(t, 30*time.Second, "all but the stuck key handled", func() bool { return c.successes() == want && started.Load() })
	commits := d1.Stats().Commits
	waitFor(t, 5*time.Second, "a commit after", func() bool { return d1.Stats().Commits > commits })
	stop1()

	var calls2 atomic.Int64
	h2 := c.handler(func(ctx context.Context, r dispatch.Record) error {
		calls2.Add(1)
		return nil
	})
	runDispatcher(t, append(baseOpts(t, brokers, "handover"), dispatch.WithHandler(h2))...)
	waitFor(t, 30*time.Second, "every record handled", func() bool { return len(c.missing(keys, perKey, nil)) == 0 })
	time.Sleep(300 * time.Millisecond) // let any further redelivery show
	c.report(t)
	if got := calls2.Load(); got != perKey {
		t.Errorf("got %d calls on the second member, want %d (the stuck record and its key's records behind it)", got, perKey)
	}
	if c.replays != 0 {
		t.Errorf("got %d redeliveries of records already handled, want 0", c.replays)
	}
}

// TestAttemptsSurviveHandover: a record that always fails is retried in
// memory from the retry topic; when its partition moves to another member
// mid-retries, the count goes on from where it was (it travels in the
// commit metadata), so the record reaches the dead-letter topic after
// exactly its attempt budget, not a fresh budget per owner.
func TestAttemptsSurviveHandover(t *testing.T) {
	brokers := cluster(t, 2)
	keys := produce(t, brokers, topics.Orders, 10, 3, nil)
	poison := "e-" + keys[3] + "-1"
	const budget = 8
	var mu sync.Mutex
	var attempts []int // the poison record's attempts, in call order
	h := func(ctx context.Context, r dispatch.Record) error {
		if r.EventID != poison {
			return nil
		}
		mu.Lock()
		attempts = append(attempts, r.Attempt)
		mu.Unlock()
		return errors.New("always fails")
	}
	calls := func() int { mu.Lock(); defer mu.Unlock(); return len(attempts) }
	opts := append(baseOpts(t, brokers, "attempts"), dispatch.WithHandler(h), dispatch.WithRetryBudget(budget, time.Hour),
		dispatch.WithBackoff(20*time.Millisecond, 40*time.Millisecond))
	_, stop1 := runDispatcher(t, opts...)
	waitFor(t, 30*time.Second, "4 attempts on the first member", func() bool { return calls() >= 4 })
	stop1()
	onFirst := calls()
	runDispatcher(t, opts...)
	waitFor(t, 30*time.Second, "the dead letter", func() bool { return len(deadLetters(t, brokers)) == 1 })
	mu.Lock()
	defer mu.Unlock()
	want := make([]int, budget)
	for i := range want {
		want[i] = i + 1
	}
	if !slices.Equal(attempts, want) {
		t.Errorf("got attempts %v (%d on the first member), want %v", attempts, onFirst, want)
	}
	if dl := deadLetters(t, brokers)[0]; dl.Attempts != budget {
		t.Errorf("dead letter with %d attempts, want %d", dl.Attempts, budget)
	}
}
