package loadgen

import (
	"testing"

	"github.com/surgeio/surge/schemas"
)

// TestStatusesShareTheirOrdersLane checks that every status change carries
// its order's priority, so producers route both to the same topic.
func TestStatusesShareTheirOrdersLane(t *testing.T) {
	rec, _ := generate(t, Config{MaxRecords: 40_000, Seed: 5, VIPShare: 0.2})
	prio := make(map[string]schemas.Priority)
	var statuses, urgent int
	for _, r := range rec.acked {
		switch v := r.(type) {
		case *schemas.Order:
			prio[v.OrderID] = v.Priority
		case *schemas.OrderStatus:
			want, ok := prio[v.OrderID]
			if !ok {
				t.Fatalf("status %s for order %s before the order", v.EventID, v.OrderID)
			}
			if v.Priority != want {
				t.Errorf("status %s of order %s: got priority %q, want the order's %q", v.EventID, v.OrderID, v.Priority, want)
			}
			statuses++
			if v.Priority.Urgent() {
				urgent++
			}
		}
	}
	if statuses == 0 || urgent == 0 {
		t.Fatalf("got %d statuses, %d of them vip/urgent; want some of each", statuses, urgent)
	}
}
