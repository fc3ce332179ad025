package dispatch_test

import (
	"context"
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
