package rules

import (
	"fmt"
	"slices"
	"testing"
)

func TestWindowsKeepEntriesAcrossGrowthAndReuse(t *testing.T) {
	var s windows
	var a, b ruleState
	want := []int64{}
	for i, ts := range []int64{50, 10, 30, 30, 70, 20, 60, 40, 30} {
		s.insertSorted(&a, ts, int64(i), true)
		s.insertSorted(&b, 1000+ts, 0, false) // interleaved: a's moves must not disturb b
		want = append(want, ts)
	}
	slices.Sort(want)
	if got := s.view(a.ts); !slices.Equal(got, want) {
		t.Fatalf("times: got %v, want %v", got, want)
	}
	// Equal times keep their arrival order: the amounts of the three 30s
	// are 2, 3 and 8.
	if got, want := s.view(a.amts), []int64{1, 5, 2, 3, 8, 7, 0, 6, 4}; !slices.Equal(got, want) {
		t.Errorf("amounts: got %v, want %v", got, want)
	}
	if got := s.last(b.ts); got != 1070 {
		t.Errorf("last of b: got %d, want 1070", got)
	}
	s.dropFront(&a.ts, 4)
	if got, want := s.view(a.ts), []int64{30, 40, 50, 60, 70}; !slices.Equal(got, want) {
		t.Errorf("after dropping 4: got %v, want %v", got, want)
	}

	// A released block is handed out again, and comes back empty.
	off, cls := a.ts.off, a.ts.cls
	s.release(&a.ts)
	if a.ts != (window{}) || s.view(a.ts) != nil {
		t.Errorf("released window: got %+v, want none", a.ts)
	}
	w := s.alloc(1 << (cls - 1))
	if w.off != off || w.cls != cls || w.n != 0 {
		t.Errorf("alloc after release: got %+v, want block %d of class %d, empty", w, off, cls)
	}
}

func TestWindowsSpanChunks(t *testing.T) {
	var s windows
	var states [300]ruleState
	for i := range states {
		for j := range 300 {
			s.insertSorted(&states[i], int64(i*1000+j), 0, false)
		}
	}
	if len(s.chunks) < 2 {
		t.Fatalf("got %d chunks, want the states to span several", len(s.chunks))
	}
	for i := range states {
		v := s.view(states[i].ts)
		if len(v) != 300 || v[0] != int64(i*1000) || v[299] != int64(i*1000+299) {
			t.Fatalf("state %d: got %d entries from %d to %d, want 300 from %d", i, len(v), v[0], v[len(v)-1], i*1000)
		}
	}
}

// TestEvictedUserInBatch evicts a user in a batch, brings it back in the
// same batch or not, and checks what Changes writes and that Rollback
// restores the user as it was.
func TestEvictedUserInBatch(t *testing.T) {
	set := ruleSet(t, "1m", `  - {id: cart, campaign: c, kind: count, events: [add_to_cart], count: 3, within: 10m, coupon: {value: 5, currency: USD, expires: 1h}}`)
	cart := func(user string, at int64) *Event {
		return &Event{ID: fmt.Sprintf("%s-%d", user, at), User: user, Type: "add_to_cart", TS: t0 + at}
	}
	tests := []struct {
		name     string
		comeback bool // u adds to cart again after its eviction, in the batch
		commit   bool
		want     string // what Changes writes for u
	}{
		{"evicted, rolled back", false, false, "tombstone"},
		{"evicted, committed", false, true, "tombstone"},
		{"evicted and back, rolled back", true, false, "state"},
		{"evicted and back, committed", true, true, "state"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPartition(set, 0, 1, 0)
			p.SetIdle(ChannelOrders, t0)
			p.SetIdle(ChannelPriority, t0)
			p.Begin()
			p.Process(cart("u", 0), ChannelUserEvents, nil)
			p.Commit()

			p.Begin()
			p.Process(cart("v", 12*minute), ChannelUserEvents, nil) // the watermark passes u's expiry
			p.Tick(t0+12*minute, nil)
			if p.Users() != 1 || p.Stats.Evicted != 1 {
				t.Fatalf("after the eviction: got %d users (%d evicted), want 1 (1)", p.Users(), p.Stats.Evicted)
			}
			if tc.comeback {
				p.Process(cart("u", 12*minute+1), ChannelUserEvents, nil)
			}
			got := map[string]string{}
			p.Changes(func(key string, v Value) {
				got[key] = "tombstone"
				if v != nil {
					got[key] = "state"
				}
			})
			if got["u"] != tc.want || got["v"] != "state" {
				t.Errorf("changes: got %v, want u %s and v state", got, tc.want)
			}
			if tc.commit {
				p.Commit()
				wantUsers := 1
				if tc.comeback {
					wantUsers = 2
				}
				if p.Users() != wantUsers {
					t.Errorf("after commit: got %d users, want %d", p.Users(), wantUsers)
				}
				return
			}
			p.Rollback()
			if p.Users() != 1 {
				t.Fatalf("after rollback: got %d users, want 1 (u as it was)", p.Users())
			}
			// u's first add to cart is back: two more within 10m earn the
			// coupon.
			p.Begin()
			p.Process(cart("u", 2*minute), ChannelUserEvents, nil)
			out, _ := p.Process(cart("u", 3*minute), ChannelUserEvents, nil)
			p.Rollback()
			if len(out) != 1 {
				t.Errorf("after rollback: got %d coupons, want 1 (u's window restored)", len(out))
			}
			// And u is scheduled for eviction again.
			p.Begin()
			p.Process(cart("v", 12*minute), ChannelUserEvents, nil)
			p.Tick(t0+12*minute, nil)
			p.Commit()
			if p.Users() != 1 || p.Stats.Evicted != 2 {
				t.Errorf("evicted again: got %d users (%d evicted), want 1 (2)", p.Users(), p.Stats.Evicted)
			}
		})
	}
}

// TestStateFollowsRuleIDs restores a partition that runs the rules in
// another order (interned differently) from the changelog of one that ran
// the first order, and reloads a running one: both issue what an
// uninterrupted run issues.
func TestStateFollowsRuleIDs(t *testing.T) {
	set := ruleSet(t, "1m", mixedRules)
	shuffled := ruleSet(t, "1m", `  - {id: other, campaign: c, kind: first, events: [checkout_started], coupon: {value: 5, currency: USD, expires: 1h}}
  - {id: first, campaign: c, kind: first, events: [search], coupon: {value: 5, currency: USD, expires: 1h}}
  - {id: spend, campaign: c, kind: sum, threshold: 300, coupon: {value: 5, currency: USD, expires: 1h}, budget: {coupons: 40}}
  - {id: abandon, campaign: c, kind: absence, events: [add_to_cart], absent: [order], within: 30m, coupon: {value: 5, currency: USD, expires: 1h}}
  - {id: cart, campaign: c, kind: count, events: [add_to_cart], count: 3, within: 10m, coupon: {value: 5, currency: USD, expires: 1h}}
`)
	want := feed(NewPartition(set, 0, 1, 0), 0, 600, nil)

	reloaded := NewPartition(set, 0, 1, 0)
	got := feed(reloaded, 0, 300, nil)
	reloaded.SetRules(shuffled)
	got = feed(reloaded, 300, 600, got)
	if fmt.Sprint(ids(got)) != fmt.Sprint(ids(want)) {
		t.Errorf("reloaded: got %v, want %v", ids(got), ids(want))
	}

	log := map[string][]byte{}
	p := NewPartition(set, 0, 1, 0)
	p.Begin()
	got = feed(p, 0, 300, nil)
	p.Changes(func(k string, v Value) {
		if v != nil {
			log[k] = v.AppendTo(nil)
		}
	})
	p.Commit()
	restored := NewPartition(shuffled, 0, 1, 0)
	for k, v := range log {
		if err := restored.Load(k, v); err != nil {
			t.Fatal(err)
		}
	}
	restored.Rebuild()
	got = feed(restored, 300, 600, got)
	if fmt.Sprint(ids(got)) != fmt.Sprint(ids(want)) {
		t.Errorf("restored: got %v, want %v", ids(got), ids(want))
	}
}
