package analytics_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/schemas"
)

func TestCouponPerformanceReport(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	b := analytics.NewBatch()
	var off int64
	src := func() analytics.Source { off++; return analytics.Source{Topic: "t", Offset: off} }
	ts := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for i, c := range []struct{ id, rule string }{{"k1", "cart"}, {"k2", "cart"}, {"k3", "cart"}, {"k4", "spend"}} {
		b.AddCoupon(src(), &schemas.Coupon{CouponID: c.id, UserID: fmt.Sprint("u", i), CampaignID: "bf", RuleID: c.rule,
			Value: 500, Currency: "USD", IssuedAt: ts, ExpiresAt: ts.Add(time.Hour)})
	}
	for _, o := range []struct {
		id, coupon string
		amount     int64
	}{{"o1", "k1", 3000}, {"o2", "k1", 1000}, {"o3", "k2", 2000}, {"o4", "", 9000}} {
		b.AddOrder(src(), &schemas.Order{OrderID: o.id, UserID: "u", CampaignID: "bf", Currency: "USD", Amount: o.amount,
			CouponID: o.coupon, Items: []schemas.Item{{SKU: "s", Qty: 1, UnitPrice: o.amount}}, CreatedAt: ts.Add(time.Minute)})
	}
	if err := conn.Write(context.Background(), b, time.Now()); err != nil {
		t.Fatal(err)
	}
	res, err := conn.Report(context.Background(), "coupon-performance", analytics.ReportParams{})
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(res.Columns, res.Rows)
	// cart: 3 issued, k1 (two orders, 4000) and k2 (2000) redeemed; spend: 1 issued, none redeemed.
	want := "[campaign rule currency issued issued_value redeemed redemption_rate revenue cost] " +
		"[[bf cart USD 3 1500 2 0.6667 6000 1000] [bf spend USD 1 500 0 0 0 0]]"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
