package main

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// rhTracker follows every record of one side from its hand-over to the
// producer to the end of its handler call, and checks per-key order over
// the handler calls: a record's handler may start only after every
// earlier record of its key was handled at least once, and never while
// another call of its key runs. Redeliveries of handled records are
// allowed and counted. Times are offsets from the tracker's start.
type rhTracker struct {
	mu    sync.Mutex
	t0    time.Time
	recs  []rhRec
	keys  []rhKey
	stats rhCounts
}

// rhRec is one record.
type rhRec struct {
	user      int32
	seq       int32 // its place among its key's records
	partition int32 // where it was written; -1 until acked
	failed    bool  // the produce failed: never to be handled
	sent      time.Duration
	start     time.Duration // of the first handler call; 0 until then
	done      time.Duration // end of the first successful call; 0 until then
	calls     int32         // successful calls
}

// rhKey is one user's records in produce order.
type rhKey struct {
	recs     []int32
	doneUpTo int32 // first seq neither handled nor failed to produce
	running  bool
}

// rhCounts are the tracker's checks.
type rhCounts struct {
	produceErrs    int
	violations     int // calls that started before an earlier record of the key was handled
	concurrent     int // calls that started while another call of the key ran
	replays        int // calls of records already handled
	firstViolation string
}

func newRHTracker(users int, t0 time.Time) *rhTracker {
	return &rhTracker{t0: t0, keys: make([]rhKey, users), recs: make([]rhRec, 0, 1<<16)}
}

func (t *rhTracker) since(now time.Time) time.Duration { return max(now.Sub(t.t0), 1) }

// sent records record n of user, handed to the producer now. Records
// must be numbered 0, 1, 2, … in the order they are sent.
func (t *rhTracker) sent(n, user int, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n != len(t.recs) {
		panic(fmt.Sprintf("rehearsal tracker: record %d sent after %d records", n, len(t.recs)))
	}
	k := &t.keys[user]
	t.recs = append(t.recs, rhRec{user: int32(user), seq: int32(len(k.recs)), partition: -1, sent: t.since(now)})
	k.recs = append(k.recs, int32(n))
}

// acked records the produce result of record n.
func (t *rhTracker) acked(n int, partition int32, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := &t.recs[n]
	if err != nil {
		r.failed = true
		t.stats.produceErrs++
		t.advance(&t.keys[r.user])
		return
	}
	r.partition = partition
}

// begin records the start of a handler call of record n and checks order.
func (t *rhTracker) begin(n int, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n >= len(t.recs) {
		return
	}
	r := &t.recs[n]
	k := &t.keys[r.user]
	if k.running {
		t.stats.concurrent++
		t.violation(fmt.Sprintf("record %d (seq %d of user %d) started while another call of the user ran", n, r.seq, r.user))
	}
	k.running = true
	if r.calls > 0 {
		t.stats.replays++
	}
	if r.start == 0 {
		r.start = t.since(now)
	}
	if r.seq > k.doneUpTo {
		t.stats.violations++
		t.violation(fmt.Sprintf("record %d (seq %d of user %d) started before seq %d of the user was handled", n, r.seq, r.user, k.doneUpTo))
	}
}

// end records the end of a handler call of record n; ok false for a call
// that did not finish (cancelled at shutdown).
func (t *rhTracker) end(n int, ok bool, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n >= len(t.recs) {
		return
	}
	r := &t.recs[n]
	k := &t.keys[r.user]
	k.running = false
	if !ok {
		return
	}
	if r.calls == 0 {
		r.done = t.since(now)
	}
	r.calls++
	t.advance(k)
}

func (t *rhTracker) advance(k *rhKey) {
	for int(k.doneUpTo) < len(k.recs) {
		r := &t.recs[k.recs[k.doneUpTo]]
		if r.calls == 0 && !r.failed {
			return
		}
		k.doneUpTo++
	}
}

func (t *rhTracker) violation(s string) {
	if t.stats.firstViolation == "" {
		t.stats.firstViolation = s
	}
}

// pending is the number of records written and not yet handled.
func (t *rhTracker) pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for i := range t.recs {
		if !t.recs[i].failed && t.recs[i].calls == 0 {
			n++
		}
	}
	return n
}

// latencyOK reports whether the records sent in [now-window-limit,
// now-limit] were handled within limit, at the 99th percentile: a record
// not handled yet counts as over it.
func (t *rhTracker) latencyOK(now time.Time, window, limit time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	to := t.since(now) - limit
	from := to - window
	var lat []time.Duration
	for i := len(t.recs) - 1; i >= 0 && t.recs[i].sent >= from; i-- {
		r := &t.recs[i]
		if r.sent > to || r.failed {
			continue
		}
		if r.calls == 0 {
			lat = append(lat, limit+1)
		} else {
			lat = append(lat, r.done-r.sent)
		}
	}
	if len(lat) == 0 {
		return false
	}
	slices.Sort(lat)
	return quantile(lat, 0.99) < limit
}

// rhWindow is what the records sent in one window of time did.
type rhWindow struct {
	from, to      time.Duration
	sent, handled int // records sent in the window; first handler ends in it
	lat           []time.Duration
	unhandled     int // sent in the window, written, never handled
}

func (w rhWindow) dur() time.Duration { return w.to - w.from }

// window collects the records sent in [from, to), and counts the handler
// calls that ended in it.
func (t *rhTracker) window(from, to time.Duration) rhWindow {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := rhWindow{from: from, to: to}
	for i := range t.recs {
		r := &t.recs[i]
		if r.done >= from && r.done < to && r.calls > 0 {
			w.handled++
		}
		if r.sent < from || r.sent >= to {
			continue
		}
		w.sent++
		switch {
		case r.calls > 0:
			w.lat = append(w.lat, r.done-r.sent)
		case !r.failed:
			w.unhandled++
		}
	}
	slices.Sort(w.lat)
	return w
}

// recoveredAfter returns the start of the first stretch of send time, at
// or after from and ending by to, of hold made of step-long slices that
// all have their p99 latency under limit; ok false if there is none. A
// later slow slice does not undo it: the phases' figures show those.
func (t *rhTracker) recoveredAfter(from, to, step, hold, limit time.Duration) (time.Duration, bool) {
	var at time.Duration
	good := time.Duration(0)
	for s := from; s+step <= to; s += step {
		w := t.window(s, s+step)
		if w.unhandled > 0 || len(w.lat) == 0 || quantile(w.lat, 0.99) >= limit {
			good = 0
			continue
		}
		if good == 0 {
			at = s
		}
		if good += step; good >= hold {
			return at, true
		}
	}
	return 0, false
}

// rhOutcome is the whole side's bookkeeping at the end.
type rhOutcome struct {
	rhCounts
	sent, lost, dups int
	onNew            int // records handled on partitions at or above the old count
	atRisk           int // records written to a new partition while the key's previous record, in an old one, was not done
	atRiskKeys       int
	handlerMean      time.Duration // mean time a first successful call took
}

// outcome counts losses and duplicates and how many records a resize from
// old partitions put at risk of overtaking their key's earlier record.
func (t *rhTracker) outcome(old int32) rhOutcome {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := rhOutcome{rhCounts: t.stats, sent: len(t.recs)}
	var took time.Duration
	calls := 0
	for i := range t.recs {
		r := &t.recs[i]
		if r.calls > 0 && r.done > r.start {
			took += r.done - r.start
			calls++
		}
		switch {
		case r.failed:
		case r.calls == 0:
			o.lost++
		case r.calls > 1:
			o.dups += int(r.calls - 1)
		}
		if r.calls > 0 && r.partition >= old {
			o.onNew++
		}
	}
	if calls > 0 {
		o.handlerMean = took / time.Duration(calls)
	}
	for _, k := range t.keys {
		risky := false
		for j := 1; j < len(k.recs); j++ {
			prev, cur := &t.recs[k.recs[j-1]], &t.recs[k.recs[j]]
			if cur.partition >= old && prev.partition >= 0 && prev.partition < old && (prev.calls == 0 || prev.done > cur.sent) {
				o.atRisk++
				risky = true
			}
		}
		if risky {
			o.atRiskKeys++
		}
	}
	return o
}
