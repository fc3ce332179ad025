package testenv

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/schemas"
)

// ShopCampaigns are the campaigns WriteShop writes, one per kind of
// currency exponent: USD (2 minor digits), JPY (none) and BHD (3).
var ShopCampaigns = []struct{ ID, Currency string }{
	{"black-friday", "USD"}, {"hatsuuri", "JPY"}, {"eid-sale", "BHD"},
}

// WriteShop writes a known round of shop traffic straight into the raw
// tables, so that the rollups fill through their materialized views: for
// each of ShopCampaigns, orders orders by orders distinct buyers (user ids
// unique to the round) in the minutes before end, their page views, carts
// and checkouts, and two coupons of rule "welcome-<campaign>", one of them
// redeemed by the first order. Orders come 5 to 45 seconds apart, ending
// just before end, and their amounts are large enough to need grouping
// (order i of campaign c costs ((5i mod 9) + 1) × 123,456,789 minor units,
// times c's position in ShopCampaigns). Rounds use distinct ids and
// offsets, so a later round adds to the numbers of the earlier ones.
func WriteShop(t testing.TB, conn *analytics.Conn, round, orders int, end time.Time) {
	t.Helper()
	b := analytics.NewBatch()
	off := int64(round) * 1_000_000
	src := func(topic string) analytics.Source { off++; return analytics.Source{Topic: topic, Offset: off} }
	for ci, c := range ShopCampaigns {
		at := end.Add(-time.Second)
		for i := orders - 1; i >= 0; i-- {
			at = at.Add(-time.Duration(5+4*((7*i)%11)) * time.Second).Truncate(time.Second)
			user := fmt.Sprintf("r%d-%s-u%d", round, c.ID, i)
			ev := func(typ schemas.EventType, d time.Duration) {
				b.AddUserEvent(src("user-events"), &schemas.UserEvent{EventID: fmt.Sprintf("%s-%s", user, typ),
					UserID: user, SessionID: user, CampaignID: c.ID, Type: typ, SKU: "sku-1", TS: at.Add(-d)})
			}
			ev(schemas.EventPageView, 3*time.Second)
			ev(schemas.EventPageView, 2*time.Second)
			ev(schemas.EventAddToCart, 2*time.Second)
			if i%2 == 0 {
				ev(schemas.EventCheckoutStarted, time.Second)
			}
			amount := int64((5*i)%9+1) * 123_456_789 * int64(ci+1)
			o := &schemas.Order{EventID: user + "-order", OrderID: user + "-o", UserID: user, CampaignID: c.ID,
				Currency: c.Currency, Amount: amount, Priority: "normal", CreatedAt: at,
				Items: []schemas.Item{{SKU: "sku-1", Qty: 1, UnitPrice: amount}}}
			if i == 0 {
				o.CouponID = fmt.Sprintf("r%d-%s-c0", round, c.ID)
			}
			b.AddOrder(src("orders"), o)
		}
		for k := 0; k < 2; k++ {
			b.AddCoupon(src("coupons"), &schemas.Coupon{EventID: fmt.Sprintf("r%d-%s-c%d-e", round, c.ID, k),
				CouponID: fmt.Sprintf("r%d-%s-c%d", round, c.ID, k), UserID: fmt.Sprintf("r%d-%s-u%d", round, c.ID, k),
				CampaignID: c.ID, RuleID: "welcome-" + c.ID, Value: 500, Currency: c.Currency,
				IssuedAt: at.Add(-time.Minute)})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := conn.Write(ctx, b, time.Now()); err != nil {
		t.Fatalf("write shop round %d: %v", round, err)
	}
}
