package triggers_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream/triggers"
)

const dedupRules = `lateness: 5m
campaigns:
  - {id: c, timezone: UTC, start: "2020-01-01", end: "2030-01-01"}
rules:
  - {id: cart, campaign: c, kind: count, events: [add_to_cart], count: 2, within: 10m, cap: 0, coupon: {value: 500, currency: USD, expires: 1h}}
  - {id: spend, campaign: c, kind: sum, threshold: 100, cap: 0, coupon: {value: 700, currency: USD, expires: 1h}}
`

// waitRecords waits until the runner committed at least n input records.
func waitRecords(t *testing.T, r *triggers.Runner, n int64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for r.Stats().Records < n {
		if time.Now().After(deadline) {
			t.Fatalf("runner committed %d input records in a minute, want %d", r.Stats().Records, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCopiesEarnNoCoupon: copies of an add_to_cart and of an order (same
// event id) neither count twice toward a rule nor earn a coupon, in one run
// and after a restart that restores the state from the changelog; a record
// keyed by something else than its user_id is counted as a mismatch.
func TestCopiesEarnNoCoupon(t *testing.T) {
	brokers := kafka(t, 2)
	_, set := writeRules(t, dedupRules)
	now := time.Now().UTC().Truncate(time.Millisecond)
	cart := func(id string, at time.Duration) *schemas.UserEvent {
		return &schemas.UserEvent{EventID: id, UserID: "u-1", SessionID: "s", Type: schemas.EventAddToCart, SKU: "sku-1", TS: now.Add(at)}
	}
	order := func(id string, amount int64, at time.Duration) *schemas.Order {
		return &schemas.Order{EventID: id, OrderID: "o-" + id, UserID: "u-1", Items: []schemas.Item{{SKU: "s", Qty: 1, UnitPrice: amount}},
			Amount: amount, Currency: "USD", Priority: schemas.PriorityNormal, CreatedAt: now.Add(at)}
	}
	// Without de-duplication, a + a reaches count 2 and o1 + o1 = 120 >= 100.
	produceRecords(t, brokers, cart("a", 0), cart("a", 0), order("o1", 60, time.Millisecond), order("o1", 60, time.Millisecond))
	r, stop := runRunner(t, brokers, set)
	waitRecords(t, r, 4)
	stop()
	if st := r.Stats(); st.Issued != 0 || st.Duplicates != 2 {
		t.Fatalf("first run: got %d coupons and %d duplicates, want 0 and 2", st.Issued, st.Duplicates)
	}

	// Copies again after a restart, then new events: one coupon per rule.
	produceRecords(t, brokers, cart("a", 0), order("o1", 60, time.Millisecond), cart("b", 2*time.Millisecond), order("o2", 40, 3*time.Millisecond))
	v, err := schemas.Encode(cart("c", 4*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	produce(t, brokers, []*kgo.Record{{Topic: topics.UserEvents, Key: []byte("not-u-1"), Value: v}})
	reg := prometheus.NewRegistry()
	r2, stop2 := runRunner(t, brokers, set, triggers.WithRegisterer(reg))
	waitRecords(t, r2, 5)
	got := coupons(t, brokers, 2, time.Second, 30*time.Second)
	stop2()
	if len(got) != 2 {
		t.Fatalf("after the restart: got %d coupons %+v, want 2 (one per rule)", len(got), got)
	}
	for _, c := range got {
		if want := map[string]string{"cart": "b", "spend": "o2"}[c.RuleID]; c.TriggerEventID != want {
			t.Errorf("rule %s: got trigger %s, want %s", c.RuleID, c.TriggerEventID, want)
		}
	}
	if st := r2.Stats(); st.Duplicates != 2 {
		t.Errorf("second run: got %d duplicates, want 2", st.Duplicates)
	}
	var mismatches float64
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "surge_triggers_key_mismatches_total" {
			for _, m := range mf.GetMetric() {
				mismatches += m.GetCounter().GetValue()
			}
		}
	}
	if mismatches != 1 {
		t.Errorf("surge_triggers_key_mismatches_total: got %v, want 1", mismatches)
	}
}
