package dispatch_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/surgeio/surge/stream/dispatch"
)

// flaky fails a call with probability p, deterministically per event and
// attempt.
func flaky(eventID string, attempt int, p float64) bool {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", eventID, attempt)
	return float64(h.Sum64()%10000)/10000 < p
}

// TestOrderUnderConcurrencyAndRetries runs many keys concurrently with
// random latencies and 15% of calls failing: every record is handled, each
// key's calls are in order and never concurrent, and nothing is delivered
// twice.
func TestOrderUnderConcurrencyAndRetries(t *testing.T) {
	brokers := cluster(t, 8)
	keys := produce(t, brokers, topics.Orders, 150, 30, nil)
	c := newChecker()
	h := c.handler(func(ctx context.Context, r dispatch.Record) error {
		time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
		if flaky(r.EventID, r.Attempt, 0.15) {
			return errors.New("flaky service")
		}
		return nil
	})
	d, _ := runDispatcher(t, append(baseOpts(t, brokers, "order"),
		dispatch.WithHandler(h), dispatch.WithMaxInFlight(64, 16), dispatch.WithRetryBudget(100, time.Hour))...)
	waitFor(t, 60*time.Second, "all records handled", func() bool { return len(c.missing(keys, 30, nil)) == 0 })
	c.report(t)
	st := d.Stats()
	if st.Retried == 0 || st.ParkedBehind == 0 {
		t.Errorf("stats %+v: want retries and records parked behind them", st)
	}
	if c.replays != 0 {
		t.Errorf("got %d redeliveries without a crash or rebalance, want 0", c.replays)
	}
	if got, want := c.successes(), 150*30; got != want {
		t.Errorf("got %d successful calls, want %d (each record once)", got, want)
	}
	if len(c.advanced) != 0 {
		t.Errorf("keys moved past failed records: %v", c.advanced)
	}
	t.Logf("calls %d, stats %+v", c.calls, st)
}

// TestPoisonRecordDeadLettered: a record that always fails goes to the
// dead-letter topic after the attempt budget with its headers, its key
// resumes with the next record, and the rest of the partition is not held.
func TestPoisonRecordDeadLettered(t *testing.T) {
	brokers := cluster(t, 4)
	keys := produce(t, brokers, topics.Orders, 20, 10, nil)
	poison := map[string]bool{"e-u0003-4": true, "e-u0007-0": true, "e-u0007-1": true}
	permanent := map[string]bool{"e-u0011-9": true}
	c := newChecker()
	var calls atomic.Int64
	h := c.handler(func(ctx context.Context, r dispatch.Record) error {
		calls.Add(1)
		switch {
		case poison[r.EventID]:
			return errors.New("boom")
		case permanent[r.EventID]:
			return dispatch.Permanent(errors.New("400 bad request"))
		}
		return nil
	})
	start := time.Now()
	runDispatcher(t, append(baseOpts(t, brokers, "poison"),
		dispatch.WithHandler(h), dispatch.WithRetryBudget(4, time.Hour))...)
	except := map[string]bool{}
	for k := range poison {
		except[k] = true
	}
	for k := range permanent {
		except[k] = true
	}
	waitFor(t, 30*time.Second, "all good records handled", func() bool { return len(c.missing(keys, 10, except)) == 0 })
	waitFor(t, 10*time.Second, "4 dead letters", func() bool { return len(deadLetters(t, brokers)) >= 4 })
	c.report(t)
	dls := deadLetters(t, brokers)
	got := map[string]int{}
	for _, dl := range dls {
		id := eventIDOf(dl.Value)
		got[id] = dl.Attempts
		if dl.Group != "poison" || dl.SourceTopic != topics.Orders || dl.Reason == "" ||
			dl.FirstFailure.Before(start.Add(-time.Second)) || dl.LastFailure.Before(dl.FirstFailure) {
			t.Errorf("dead letter %s: %+v: want group, source topic, reason and failure times", id, dl)
		}
	}
	for id := range poison {
		if got[id] != 4 {
			t.Errorf("dead letter %s: got %d attempts, want 4", id, got[id])
		}
	}
	for id := range permanent {
		if got[id] != 1 {
			t.Errorf("dead letter %s: got %d attempts, want 1 (permanent)", id, got[id])
		}
	}
	if len(dls) != 4 {
		t.Errorf("got %d dead letters, want 4", len(dls))
	}
	// Keys moved past exactly the dead letters.
	for k, seqs := range c.advanced {
		for _, s := range seqs {
			if id := fmt.Sprintf("e-%s-%d", k, s); !except[id] {
				t.Errorf("key moved past %s, which is no dead letter", id)
			}
		}
	}
}

func eventIDOf(v []byte) string {
	var id string
	if i := indexOf(v, `"event_id":"`); i >= 0 {
		rest := v[i+len(`"event_id":"`):]
		for j, b := range rest {
			if b == '"' {
				id = string(rest[:j])
				break
			}
		}
	}
	return id
}

func indexOf(v []byte, s string) int {
	for i := 0; i+len(s) <= len(v); i++ {
		if string(v[i:i+len(s)]) == s {
			return i
		}
	}
	return -1
}
