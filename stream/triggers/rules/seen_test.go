package rules

import (
	"testing"
	"time"
)

// TestCopiesAppliedOnce: a copy of an event (same id, same time) never
// advances a rule nor earns a coupon, also after the state went through
// the changelog (encode, Load into a new partition); a copy older than the
// watermark is late.
func TestCopiesAppliedOnce(t *testing.T) {
	set := ruleSet(t, "1m", `  - {id: cnt, campaign: c, kind: count, events: [add_to_cart], count: 2, within: 10m, cap: 0, coupon: {value: 5, currency: USD, expires: 1h}}
  - {id: sum, campaign: c, kind: sum, threshold: 100, cap: 0, coupon: {value: 5, currency: USD, expires: 1h}}`)
	p := NewPartition(set, 0, 1, time.Minute)
	ev := func(id, typ string, at, amount int64, ch int) *Event {
		return &Event{ID: id, User: "u1", Type: typ, Amount: amount, Currency: "USD", TS: t0 + at}
	}
	var out []Issue
	process := func(e *Event, ch int) {
		t.Helper()
		var late bool
		out, late = p.Process(e, ch, out)
		if late {
			t.Fatalf("event %s at %d: late, want applied or dropped as a copy", e.ID, e.TS-t0)
		}
	}
	process(ev("a", "add_to_cart", 0, 0, ChannelUserEvents), ChannelUserEvents)
	process(ev("a", "add_to_cart", 0, 0, ChannelUserEvents), ChannelUserEvents) // copy: no second count
	process(ev("o1", "order", 1, 60, ChannelOrders), ChannelOrders)
	process(ev("o1", "order", 1, 60, ChannelOrders), ChannelOrders) // copy: 120 >= 100 if counted twice
	if len(out) != 0 {
		t.Fatalf("after copies: got coupons %+v, want none", out)
	}
	if p.Stats.Duplicates != 2 {
		t.Errorf("duplicates: got %d, want 2", p.Stats.Duplicates)
	}

	// Through the changelog: the copies stay copies for the restored state.
	q := NewPartition(set, 0, 1, time.Minute)
	b := p.encode(nil, p.user("u1"))
	if err := q.Load("u1", b); err != nil {
		t.Fatal(err)
	}
	p = q
	process(ev("a", "add_to_cart", 0, 0, ChannelUserEvents), ChannelUserEvents)
	process(ev("o1", "order", 1, 60, ChannelOrders), ChannelOrders)
	if len(out) != 0 {
		t.Fatalf("copies after restore: got coupons %+v, want none", out)
	}
	process(ev("b", "add_to_cart", 2, 0, ChannelUserEvents), ChannelUserEvents)
	process(ev("o2", "order", 3, 40, ChannelOrders), ChannelOrders)
	if len(out) != 2 {
		t.Fatalf("new events: got %d coupons %+v, want 2 (count and sum reached once each)", len(out), out)
	}
	if p.Stats.Duplicates != 2 || p.Stats.Events != 2 {
		t.Errorf("restored partition: got %d duplicates and %d events applied, want 2 and 2", p.Stats.Duplicates, p.Stats.Events)
	}

	// Once the watermark passed an event's time, a copy of it is late.
	p.SetIdle(ChannelPriority, t0)
	process(ev("c", "add_to_cart", 5*minute, 0, ChannelUserEvents), ChannelUserEvents)
	process(ev("o3", "order", 5*minute, 1, ChannelOrders), ChannelOrders)
	if _, late := p.Process(ev("a", "add_to_cart", 0, 0, ChannelUserEvents), ChannelUserEvents, nil); !late {
		t.Error("copy older than the watermark: got applied or dropped, want late")
	}
	if u := p.user("u1"); u == nil || len(u.seen) != 2 {
		t.Errorf("seen events after the watermark moved: got %v, want the 2 not older than it", u)
	}
}
