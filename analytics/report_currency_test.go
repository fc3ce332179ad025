package analytics_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/schemas"
)

// campaign-summary counts each coupon on the row of its own currency: a
// campaign with EUR and USD orders whose coupons were all USD shows them on
// the USD row only, so summing the rows counts each coupon once.
func TestCampaignSummaryCouponsByCurrency(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	b := analytics.NewBatch()
	var off int64
	src := func() analytics.Source { off++; return analytics.Source{Topic: "t", Offset: off} }
	item := []schemas.Item{{SKU: "A", Qty: 1, UnitPrice: 1000}}
	for _, o := range []schemas.Order{
		{OrderID: "o1", UserID: "u1", CampaignID: "black-friday", Currency: "EUR", Amount: 1000, Items: item, CreatedAt: at("10:00:00")},
		{OrderID: "o2", UserID: "u2", CampaignID: "black-friday", Currency: "USD", Amount: 1000, Items: item, CouponID: "c1", CreatedAt: at("10:01:00")},
	} {
		b.AddOrder(src(), &o)
	}
	for i, c := range []struct{ campaign, currency string }{
		{"black-friday", "USD"}, {"black-friday", "USD"}, {"black-friday", "USD"}, {"black-friday", "GBP"},
	} {
		b.AddCoupon(src(), &schemas.Coupon{CouponID: "c" + string(rune('1'+i)), UserID: "u1", CampaignID: c.campaign,
			RuleID: "r", Value: 500, Currency: c.currency, IssuedAt: at("09:59:00")})
	}
	if err := conn.Write(context.Background(), b, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := conn.Report(ctx, "campaign-summary", analytics.ReportParams{})
	if err != nil {
		t.Fatal(err)
	}
	// campaign, currency, orders, gmv, buyers, avg_order_value, coupons_issued, coupons_redeemed
	want := [][]any{
		{"black-friday", "EUR", uint64(1), int64(1000), uint64(1), 1000.0, uint64(0), uint64(0)},
		{"black-friday", "GBP", uint64(0), int64(0), uint64(0), 0.0, uint64(1), uint64(0)},
		{"black-friday", "USD", uint64(1), int64(1000), uint64(1), 1000.0, uint64(3), uint64(1)},
	}
	if !reflect.DeepEqual(res.Rows, want) {
		t.Errorf("campaign-summary:\ngot  %v\nwant %v", res.Rows, want)
	}

	// A database that held these coupons before the rollup existed: the
	// repair fills it from the raw coupons, to the same report.
	if err := conn.DB().Exec(ctx, "TRUNCATE TABLE coupons_currency_per_minute"); err != nil {
		t.Fatal(err)
	}
	fixes, err := conn.RepairRollups(ctx, analytics.RepairOpts{Settle: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(fixes) != 2 {
		t.Errorf("repair: got %d fixes %+v, want 2 (the USD and GBP keys)", len(fixes), fixes)
	}
	if res, err = conn.Report(ctx, "campaign-summary", analytics.ReportParams{}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Rows, want) {
		t.Errorf("campaign-summary after the repair:\ngot  %v\nwant %v", res.Rows, want)
	}
}
