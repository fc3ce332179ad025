package schemas

import (
	"strings"
	"testing"
)

func TestOrderStatusPriority(t *testing.T) {
	base := `{"kind":"order_status","v":1,"event_id":"e1","order_id":"o1","user_id":"u1","status":"paid","ts":"2026-11-20T00:00:00Z"`
	tests := []struct {
		in      string
		want    Priority
		wantErr string
	}{
		{base + `}`, "", ""},
		{base + `,"priority":"vip"}`, PriorityVIP, ""},
		{base + `,"priority":"urgent"}`, PriorityUrgent, ""},
		{base + `,"priority":"asap"}`, "", `priority: unknown priority "asap"`},
		{base + `,"priority":7}`, "", "priority: must be a string"},
	}
	for _, tt := range tests {
		got, err := DecodeOrderStatus([]byte(tt.in))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: got error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if got.Priority != tt.want {
			t.Errorf("%s: got priority %q, want %q", tt.in, got.Priority, tt.want)
		}
		enc, err := Encode(got)
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodeOrderStatus(enc)
		if err != nil || *again != *got {
			t.Errorf("round trip of %s: got %+v (%v), want %+v", enc, again, err, got)
		}
	}
}
