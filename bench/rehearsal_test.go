package main

import (
	"errors"
	"testing"
	"time"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream/control"
)

// The rehearsal's order checker flags a record started before its key's
// earlier record was handled, and a call started while another of its
// key runs; it allows redeliveries, skips records whose produce failed,
// and counts what a resize put at risk.
func TestRehearsalTracker(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tr := newRHTracker(3, t0)
	// user 0: records 0, 1, 2; user 1: record 3 (failed), 4; user 2: 5.
	for n, u := range []int{0, 0, 0, 1, 1, 2} {
		tr.sent(n, u, at(n+1))
	}
	tr.acked(0, 1, nil)
	tr.acked(1, 1, nil)
	tr.acked(2, 9, nil) // a new partition, old count 8: its predecessor is still pending
	tr.acked(3, 0, errors.New("broker down"))
	tr.acked(4, 0, nil)
	tr.acked(5, 2, nil)

	tr.begin(0, at(10))
	tr.end(0, true, at(30))
	tr.begin(2, at(31)) // seq 2 before seq 1: a violation
	tr.begin(1, at(32)) // while seq 2 runs: concurrent
	tr.end(1, true, at(50))
	tr.end(2, true, at(52))
	tr.begin(0, at(60)) // redelivery
	tr.end(0, true, at(80))
	tr.begin(4, at(61)) // record 3 failed to produce: not waited for
	tr.end(4, true, at(81))

	if got := tr.pending(); got != 1 {
		t.Errorf("pending: got %d, want 1 (record 5)", got)
	}
	o := tr.outcome(8)
	want := rhOutcome{rhCounts: rhCounts{produceErrs: 1, violations: 1, concurrent: 1, replays: 1},
		sent: 6, lost: 1, dups: 1, onNew: 1, atRisk: 1, atRiskKeys: 1}
	if got, want := o.handlerMean, 19750*time.Microsecond; got != want {
		t.Errorf("handler mean: got %v, want %v", got, want)
	}
	o.firstViolation, o.handlerMean = "", 0
	if o != want {
		t.Errorf("outcome: got %+v, want %+v", o, want)
	}
	w := tr.window(0, 4*time.Millisecond) // records 0..2 sent
	if w.sent != 3 || w.handled != 0 || w.unhandled != 0 || len(w.lat) != 3 || w.lat[0] != 29*time.Millisecond || w.lat[2] != 49*time.Millisecond {
		t.Errorf("window: got sent %d, handled %d, unhandled %d, latencies %v; want 3, 0, 0, [29ms 48ms 49ms]", w.sent, w.handled, w.unhandled, w.lat)
	}
}

func TestRehearsalRecovery(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := newRHTracker(1, t0)
	// One record every 100ms for 3s; latency 500ms for the first second,
	// then 30ms.
	for n := range 30 {
		sent := t0.Add(time.Duration(n+1) * 100 * time.Millisecond)
		tr.sent(n, 0, sent)
		tr.acked(n, 0, nil)
		lat := 30 * time.Millisecond
		if n < 9 { // sent before 1s
			lat = 500 * time.Millisecond
		}
		tr.begin(n, sent.Add(lat-20*time.Millisecond))
		tr.end(n, true, sent.Add(lat))
	}
	for _, tc := range []struct {
		hold   time.Duration
		want   time.Duration
		wantOK bool
	}{
		{time.Second, time.Second, true},
		{2 * time.Second, time.Second, true},
		{3 * time.Second, 0, false}, // only 2s of fast records
	} {
		got, ok := tr.recoveredAfter(0, 3100*time.Millisecond, 500*time.Millisecond, tc.hold, 100*time.Millisecond)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("recoveredAfter(hold %v): got %v, %v; want %v, %v", tc.hold, got, ok, tc.want, tc.wantOK)
		}
	}
	if !tr.latencyOK(t0.Add(3200*time.Millisecond), time.Second, 100*time.Millisecond) {
		t.Error("latencyOK at the end: got false, want true")
	}
	if tr.latencyOK(t0.Add(1200*time.Millisecond), time.Second, 100*time.Millisecond) {
		t.Error("latencyOK in the slow second: got true, want false")
	}
}

func TestRehearsalLoad(t *testing.T) {
	users := rhUserIDs(800, 8)
	per := make([]int, 8)
	for _, u := range users {
		per[control.KeyPartition([]byte(u), 8)]++
	}
	for p, n := range per {
		if n != 100 {
			t.Errorf("users on partition %d: got %d, want 100", p, n)
		}
	}
	l := newRHLoad(1, users, "t-")
	start := time.Now()
	type order struct {
		at     time.Time
		status schemas.OrderStatusValue
	}
	orders := map[string]*order{}
	statuses := 0
	for n := range 300 { // one record every 5ms for 1.5s
		now := start.Add(time.Duration(n) * 5 * time.Millisecond)
		r, u := l.next(n, now)
		if err := schemas.Validate(r); err != nil {
			t.Fatalf("record %d: %v", n, err)
		}
		if r.Key() != users[u] {
			t.Errorf("record %d: got key %s, want user %d's %s", n, r.Key(), u, users[u])
		}
		switch v := r.(type) {
		case *schemas.Order:
			if i, ok := rhIndex(v.EventID); !ok || i != n {
				t.Errorf("rhIndex(%s): got %d, %v; want %d", v.EventID, i, ok, n)
			}
			orders[v.OrderID] = &order{at: now, status: schemas.StatusCreated}
		case *schemas.OrderStatus:
			statuses++
			o := orders[v.OrderID]
			next, delay := schemas.StatusPaid, rhPaidAfter
			if o != nil && o.status == schemas.StatusPaid {
				next, delay = schemas.StatusShipped, rhShipAfter
			}
			if o == nil || v.Status != next || now.Sub(o.at) < delay {
				t.Fatalf("record %d: %s of %s at +%v, want %s no earlier than +%v after its order", n, v.Status, v.OrderID,
					now.Sub(start), next, delay)
			}
			o.status = v.Status
		}
	}
	if len(orders) < 100 || statuses < 150 {
		t.Errorf("got %d orders and %d status changes, want sessions: at least 100 and 150", len(orders), statuses)
	}
}
