package rules

import (
	"fmt"
	"runtime"
	"testing"
)

const mixedRules = `  - {id: cart, campaign: c, kind: count, events: [add_to_cart], count: 3, within: 10m, coupon: {value: 5, currency: USD, expires: 1h}}
  - {id: abandon, campaign: c, kind: absence, events: [add_to_cart], absent: [order], within: 30m, coupon: {value: 5, currency: USD, expires: 1h}}
  - {id: spend, campaign: c, kind: sum, threshold: 300, coupon: {value: 5, currency: USD, expires: 1h}, budget: {coupons: 40}}
  - {id: first, campaign: c, kind: first, events: [search], coupon: {value: 5, currency: USD, expires: 1h}}
`

// feed sends a deterministic mix of events for users u0..u(n-1).
func feed(p *Partition, from, to int, out []Issue) []Issue {
	types := []string{"add_to_cart", "search", "order", "add_to_cart", "page_view"}
	p.SetIdle(ChannelOrders, t0) // only user events arrive
	p.SetIdle(ChannelPriority, t0)
	for i := from; i < to; i++ {
		ev := Event{ID: fmt.Sprintf("e%d", i), User: fmt.Sprintf("u%d", i%37), Type: types[i%len(types)],
			Amount: 100, Currency: "USD", TS: t0 + int64(i)*20_000}
		out, _ = p.Process(&ev, ChannelUserEvents, out)
		out = p.Tick(ev.TS, out)
	}
	return out
}

func ids(out []Issue) []string {
	var s []string
	for _, is := range out {
		s = append(s, is.CouponID)
	}
	return s
}

// TestChangelogRestoreMatchesUninterrupted writes the changes of each batch
// to a map (the compacted changelog), restores a new partition from it
// halfway, and checks that it issues the same coupons as a partition that
// ran through.
func TestChangelogRestoreMatchesUninterrupted(t *testing.T) {
	set := ruleSet(t, "1m", mixedRules)
	whole := NewPartition(set, 0, 1, 0)
	want := feed(whole, 0, 600, nil)
	if len(want) == 0 {
		t.Fatal("the input issues no coupons; the test would prove nothing")
	}

	log := map[string][]byte{}
	p := NewPartition(set, 0, 1, 0)
	var got []Issue
	for b := 0; b < 300; b += 50 {
		p.Begin()
		got = feed(p, b, b+50, got)
		p.Changes(func(k string, v Value) {
			if v == nil {
				delete(log, k)
			} else {
				log[k] = v.AppendTo(nil)
			}
		})
		p.Commit()
	}
	restored := NewPartition(set, 0, 1, 0)
	for k, v := range log {
		if err := restored.Load(k, v); err != nil {
			t.Fatal(err)
		}
	}
	restored.Rebuild()
	got = feed(restored, 300, 600, got)
	if fmt.Sprint(ids(got)) != fmt.Sprint(ids(want)) {
		t.Errorf("after restore: got %d coupons %v, want %d %v", len(got), ids(got), len(want), ids(want))
	}
}

func TestRollbackUndoesABatch(t *testing.T) {
	set := ruleSet(t, "1m", mixedRules)
	whole := NewPartition(set, 0, 1, 0)
	want := feed(whole, 0, 400, nil)

	p := NewPartition(set, 0, 1, 0)
	p.Begin()
	got := feed(p, 0, 200, nil)
	p.Commit()
	p.Begin()
	_ = feed(p, 200, 300, nil) // aborted: its coupons never became visible
	p.Rollback()
	p.Begin()
	got = feed(p, 200, 400, got) // the same input again
	p.Commit()
	if fmt.Sprint(ids(got)) != fmt.Sprint(ids(want)) {
		t.Errorf("after rollback and replay: got %v, want %v", ids(got), ids(want))
	}
}

// TestMemoryPerActiveUser measures the heap cost of a user with the
// typical state of an active shopper: one count window entry, one pending
// absence timer and one campaign sum.
func TestMemoryPerActiveUser(t *testing.T) {
	set := ruleSet(t, "1m", mixedRules)
	p := NewPartition(set, 0, 1, 0)
	const n = 100_000
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf("user-%07d", i)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i, u := range users {
		ts := t0 + int64(i)
		for _, ev := range []Event{{ID: "a", User: u, Type: "add_to_cart", TS: ts}, {ID: "o", User: u, Type: "order", Amount: 100, Currency: "USD", TS: ts}} {
			p.Process(&ev, ChannelUserEvents, nil)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if p.Users() != n {
		t.Fatalf("got %d users with state, want %d", p.Users(), n)
	}
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("heap per active user (count window + campaign sum, ids of 12 bytes): %.0f bytes", per)
	if per > 1024 {
		t.Errorf("got %.0f bytes per active user, want at most 1 KiB", per)
	}
	runtime.KeepAlive(users)
}

func TestEvictionAfterLongestWindow(t *testing.T) {
	set := ruleSet(t, "1m", `  - {id: cart, campaign: c, kind: count, events: [add_to_cart], count: 3, within: 10m, coupon: {value: 5, currency: USD, expires: 1h}}`)
	p := NewPartition(set, 0, 1, 0)
	ev := Event{ID: "a", User: "u", Type: "add_to_cart", TS: t0}
	p.Process(&ev, ChannelUserEvents, nil)
	p.AdvanceTo(t0+11*minute-1, nil)
	if p.Users() != 1 {
		t.Errorf("before the window and lateness passed: got %d users, want 1", p.Users())
	}
	p.AdvanceTo(t0+11*minute, nil)
	if p.Users() != 0 || p.Stats.Evicted != 1 {
		t.Errorf("after the window and lateness passed: got %d users (%d evicted), want 0 (1)", p.Users(), p.Stats.Evicted)
	}
}
