package triggers

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream/triggers/rules"
)

// TestCouponThatDoesNotEncode: a coupon schemas refuses (here the trigger
// id of an absence rule whose id is near the id limit: "timer:<rule>:<ms>"
// is longer than schemas.MaxIDBytes) is counted and logged, and neither
// written nor counted as issued; the others are written.
func TestCouponThatDoesNotEncode(t *testing.T) {
	now := time.Now().UnixMilli()
	good := rules.Issue{CouponID: "c-1", User: "u1", Rule: "cart", Campaign: "bf", Value: 500, Currency: "EUR",
		IssuedAt: now, ExpiresAt: now + 3600_000, Trigger: "ev-1"}
	longRule := strings.Repeat("r", schemas.MaxIDBytes-4)
	bad := good
	bad.CouponID, bad.Rule, bad.Trigger = "c-2", longRule, "timer:"+longRule+":1764201600000"
	var o partOut
	o.issues = []rules.Issue{bad, good}
	var log bytes.Buffer
	o.writeCoupons("coupons", slog.New(slog.NewTextHandler(&log, nil)))

	if o.st.CouponErrors != 1 {
		t.Errorf("got %d coupon errors, want 1", o.st.CouponErrors)
	}
	if len(o.issues) != 1 || o.issues[0].CouponID != "c-1" {
		t.Errorf("got issues %+v, want only c-1", o.issues)
	}
	if len(o.pending) != 1 {
		t.Fatalf("got %d records, want 1", len(o.pending))
	}
	cp, err := schemas.DecodeCoupon(o.pending[0].Value)
	if err != nil || cp.CouponID != "c-1" || o.pending[0].Topic != "coupons" || string(o.pending[0].Key) != "u1" {
		t.Errorf("got record %s on %s (%v), want coupon c-1 keyed u1", o.pending[0].Value, o.pending[0].Topic, err)
	}
	if !strings.Contains(log.String(), "coupon not written") || !strings.Contains(log.String(), "trigger_event_id") {
		t.Errorf("got log %q, want the refused coupon and the field named", log.String())
	}
}
