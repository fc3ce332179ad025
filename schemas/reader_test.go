package schemas

import (
	"testing"
	"time"
)

func TestEventID(t *testing.T) {
	canonical, err := Encode(&UserEvent{EventID: "ev-canon", UserID: "u-1", SessionID: "s-1", Type: EventPageView, TS: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, in, want string
	}{
		{"canonical", string(canonical), "ev-canon"},
		{"json.dumps spacing", `{"kind": "order", "v": 1, "event_id": "ev-py", "user_id": "u-1"}`, "ev-py"},
		{"other key order", `{"user_id":"u-1","event_id":"ev-late","kind":"order"}`, "ev-late"},
		{"newlines and tabs", "{\n\t\"event_id\"\t:\n \"ev-ws\"\n}", "ev-ws"},
		{"escaped", `{"event_id":"ev-\u0041\"q"}`, `ev-A"q`},
		{"nested only", `{"meta":{"event_id":"ev-nested"}}`, ""},
		{"missing", `{"kind":"order"}`, ""},
		{"not a string", `{"event_id":42}`, ""},
		{"null", `{"event_id":null}`, ""},
		{"not JSON", `event_id: ev-1`, ""},
		{"truncated", `{"event_id": "ev-1"`, ""},
	}
	for _, tt := range tests {
		if got := EventID([]byte(tt.in)); got != tt.want {
			t.Errorf("%s: EventID(%s): got %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

// TestReaderDoesNotAllocate checks the point of Reader: canonical records
// of every kind decode without allocating once it has warmed up.
func TestReaderDoesNotAllocate(t *testing.T) {
	now := time.Now()
	recs := []Record{
		&UserEvent{EventID: "ev-1", UserID: "u-1", SessionID: "s-1", Type: EventAddToCart, SKU: "el-1", TS: now},
		&Order{EventID: "ev-2", OrderID: "o-1", UserID: "u-1", Items: []Item{{SKU: "a", Qty: 2, UnitPrice: 150}, {SKU: "b", Qty: 1, UnitPrice: 100}},
			Amount: 400, Currency: "EUR", CreatedAt: now},
		&OrderStatus{EventID: "ev-3", OrderID: "o-1", UserID: "u-1", Status: StatusPaid, TS: now},
		&Coupon{EventID: "ev-4", CouponID: "c-1", UserID: "u-1", CampaignID: "bf", RuleID: "r", Value: 500, Currency: "EUR",
			IssuedAt: now, ExpiresAt: now.Add(time.Hour), TriggerEventID: "ev-1"},
	}
	var r Reader
	r.SetNow(now)
	for _, rec := range recs {
		data, err := Encode(rec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Read(data); err != nil {
			t.Fatalf("%s: %v", rec.Kind(), err)
		}
		if n := testing.AllocsPerRun(100, func() {
			if _, err := r.Read(data); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: got %.1f allocations per Read, want 0", rec.Kind(), n)
		}
	}
}
