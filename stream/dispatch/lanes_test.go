package dispatch_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/stream/dispatch"
)

// TestPriorityLane: with a backlog of normal and priority orders produced
// together, priority orders wait far less (p99 from produce to handler
// start), and the normal lane still progresses while priority records
// wait (its starvation bound).
func TestPriorityLane(t *testing.T) {
	brokers := cluster(t, 4)
	var mu sync.Mutex
	waits := map[dispatch.Lane][]time.Duration{}
	var starts []dispatch.Lane
	var first time.Time
	h := func(ctx context.Context, r dispatch.Record) error {
		mu.Lock()
		// The wait in the backlog: from when dispatching began (the group
		// join takes seconds on kfake) or the record's produce time.
		if first.IsZero() {
			first = time.Now()
		}
		from := r.Timestamp
		if from.Before(first) {
			from = first
		}
		waits[r.Lane] = append(waits[r.Lane], time.Since(from))
		starts = append(starts, r.Lane)
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		return nil
	}
	// 2000 normal and 200 priority records, interleaved, all produced
	// before the dispatcher starts: a backlog.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range 2200 {
		topic := topics.Orders
		if i%11 == 0 {
			topic = topics.OrdersPriority
		}
		k := "u" + string(rune('a'+i%26)) + string(rune('a'+(i/26)%26))
		cl.Produce(context.Background(), &kgo.Record{Topic: topic, Key: []byte(k), Value: value(k, i)}, nil)
	}
	if err := cl.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	d, _ := runDispatcher(t, append(baseOpts(t, brokers, "lanes"), dispatch.WithHandler(h),
		dispatch.WithMaxInFlight(8, 2), dispatch.WithMaxBuffered(400), dispatch.WithNormalShare(5))...)
	waitFor(t, 60*time.Second, "all handled", func() bool { return d.Stats().Processed == 2200 })
	mu.Lock()
	defer mu.Unlock()
	p99 := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)*99/100]
	}
	pr, nl := p99(waits[dispatch.LanePriority]), p99(waits[dispatch.LaneNormal])
	t.Logf("p99 wait: priority %s, normal %s", pr, nl)
	if len(waits[dispatch.LanePriority]) != 200 || pr*3 > nl {
		t.Errorf("got priority p99 %s over %d records, normal p99 %s: want priority at most a third of normal", pr, len(waits[dispatch.LanePriority]), nl)
	}
	// Starvation bound: while priority records were still being started,
	// the normal lane got at least 1 in 5 starts (minus slack).
	lastPr := slices.Index(starts, dispatch.LanePriority)
	for i, l := range starts {
		if l == dispatch.LanePriority {
			lastPr = i
		}
	}
	normal := 0
	for _, l := range starts[:lastPr+1] {
		if l == dispatch.LaneNormal {
			normal++
		}
	}
	if min := (lastPr + 1) / 5 / 2; normal < min {
		t.Errorf("normal lane got %d of the first %d starts, want at least %d", normal, lastPr+1, min)
	}
}

// TestNotBefore: records with a surge-not-before time are not dispatched
// before it and not much after, other keys are not held up, and later
// records of the same key wait behind the delayed one.
func TestNotBefore(t *testing.T) {
	brokers := cluster(t, 2)
	notBefore := time.Now().Add(1500 * time.Millisecond).UTC().Truncate(time.Millisecond)
	delayed := map[string]bool{"u0000": true, "u0003": true}
	c := newChecker()
	var mu sync.Mutex
	at := map[string]time.Time{}
	h := c.handler(func(ctx context.Context, r dispatch.Record) error {
		mu.Lock()
		at[r.EventID] = time.Now()
		mu.Unlock()
		return nil
	})
	runDispatcher(t, append(baseOpts(t, brokers, "delay"), dispatch.WithHandler(h))...)
	// Wait until the dispatcher is in its group and handling.
	warm := produce(t, brokers, topics.Orders, 1, 1, nil)
	waitFor(t, 20*time.Second, "warm-up record handled", func() bool { return len(c.missing(warm, 1, nil)) == 0 })
	notBefore = time.Now().Add(1500 * time.Millisecond).UTC().Truncate(time.Millisecond)
	keys := produce(t, brokers, topics.Orders, 6, 4, func(key string, seq int) []kgo.RecordHeader {
		if delayed[key] && seq == 1 {
			return []kgo.RecordHeader{{Key: dispatch.HeaderNotBefore, Value: []byte(notBefore.Format(time.RFC3339Nano))}}
		}
		return nil
	})
	waitFor(t, 20*time.Second, "all handled", func() bool { return len(c.missing(keys, 4, nil)) == 0 })
	c.report(t)
	mu.Lock()
	defer mu.Unlock()
	for k := range delayed {
		got := at["e-"+k+"-1"]
		if got.Before(notBefore) || got.After(notBefore.Add(500*time.Millisecond)) {
			t.Errorf("%s seq 1: dispatched at %s, want within 500ms after %s", k, got.Format(time.RFC3339Nano), notBefore.Format(time.RFC3339Nano))
		}
		if next := at["e-"+k+"-2"]; next.Before(got) {
			t.Errorf("%s seq 2 dispatched before the delayed seq 1", k)
		}
	}
	for _, k := range keys {
		if !delayed[k] && at["e-"+k+"-3"].After(notBefore) {
			t.Errorf("%s (not delayed) finished at %s, after the delayed records' time: held up", k, at["e-"+k+"-3"])
		}
	}
}
