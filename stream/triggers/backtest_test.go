package triggers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream/triggers"
)

func TestBacktestReplaysClickHouse(t *testing.T) {
	ch := testenv.ClickHouseConn(t)
	_, set := writeRules(t, testRules)
	base := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	b := analytics.NewBatch()
	var off int64
	src := func() analytics.Source { off++; return analytics.Source{Topic: "t", Offset: off} }
	// u1: three carts in 3s (cart fires), then nothing (abandon fires).
	// u2: one cart then checkout (nothing); a first search (first fires).
	// u3: orders of 3000 + 2500 (spend fires at 5000) an hour later.
	for i, e := range []struct {
		user string
		typ  schemas.EventType
		at   time.Duration
	}{{"u1", schemas.EventAddToCart, 0}, {"u1", schemas.EventAddToCart, time.Second}, {"u1", schemas.EventAddToCart, 3 * time.Second},
		{"u2", schemas.EventAddToCart, 0}, {"u2", schemas.EventCheckoutStarted, time.Second}, {"u2", schemas.EventSearch, 2 * time.Second}} {
		b.AddUserEvent(src(), &schemas.UserEvent{EventID: fmt.Sprint("e", i), UserID: e.user, SessionID: "s", Type: e.typ, SKU: "x", TS: base.Add(e.at)})
	}
	for i, amt := range []int64{3000, 2500} {
		b.AddOrder(src(), &schemas.Order{EventID: fmt.Sprint("o", i), OrderID: fmt.Sprint("o", i), UserID: "u3", Currency: "USD", Amount: amt,
			Items: []schemas.Item{{SKU: "x", Qty: 1, UnitPrice: amt}}, CreatedAt: base.Add(time.Hour + time.Duration(i)*time.Second)})
	}
	if err := ch.Write(context.Background(), b, time.Now()); err != nil {
		t.Fatal(err)
	}
	res, err := triggers.Backtest(context.Background(), ch, set, base.Add(-time.Hour), base.Add(3*time.Hour), 8)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, r := range res.Rules {
		got[r.Rule] = r.Coupons
	}
	want := map[string]int64{"cart": 1, "abandon": 1, "spend": 1, "first": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) || res.Events != 8 {
		t.Errorf("got %d events and coupons %v, want 8 events and %v", res.Events, got, want)
	}
	if len(res.Hours) != 4 || !res.Hours[0].Hour.Equal(base) {
		t.Errorf("got hours %+v, want 4 rule-hours starting at %s", res.Hours, base)
	}
}
