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

// rollupVsRaw returns the order count of campaign "bf" in the raw table
// and in campaign-summary's rollup.
func rollupVsRaw(t *testing.T, conn *analytics.Conn) (raw, rolled uint64) {
	t.Helper()
	ctx := context.Background()
	if err := conn.DB().QueryRow(ctx, "SELECT count() FROM orders WHERE campaign_id = 'bf'").Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if err := conn.DB().QueryRow(ctx, "SELECT countMerge(orders) FROM orders_per_minute WHERE campaign_id = 'bf'").Scan(&rolled); err != nil {
		t.Fatal(err)
	}
	return raw, rolled
}

// checkReportsEqualRaw asserts that every rollup equals its raw table in
// count and sums, and that campaign-summary's orders equal the raw orders.
func checkReportsEqualRaw(t *testing.T, conn *analytics.Conn) {
	t.Helper()
	ctx := context.Background()
	for _, q := range []struct{ name, raw, rolled string }{
		{"orders", "SELECT count(), sum(amount), uniqExact(user_id) FROM orders",
			"SELECT countMerge(orders), sumMerge(gmv), uniqExactMerge(buyers) FROM orders_per_minute"},
		{"user events", "SELECT count(), toInt64(0), toUInt64(0) FROM user_events",
			"SELECT sum(events), toInt64(0), toUInt64(0) FROM events_per_minute"},
		{"coupons", "SELECT count(), sum(value), toUInt64(0) FROM coupons",
			"SELECT countMerge(issued), sumMerge(value), toUInt64(0) FROM coupons_per_minute"},
		{"coupons by currency", "SELECT count(), sum(value), toUInt64(0) FROM coupons",
			"SELECT countMerge(issued), sumMerge(value), toUInt64(0) FROM coupons_currency_per_minute"},
	} {
		var rn, un, rb, ub uint64
		var rs, us int64
		if err := conn.DB().QueryRow(ctx, q.raw).Scan(&rn, &rs, &rb); err != nil {
			t.Fatal(err)
		}
		if err := conn.DB().QueryRow(ctx, q.rolled).Scan(&un, &us, &ub); err != nil {
			t.Fatal(err)
		}
		if rn != un || rs != us || rb != ub {
			t.Errorf("%s: rollup has count %d sum %d distinct %d, raw has %d %d %d", q.name, un, us, ub, rn, rs, rb)
		}
	}
	res, err := conn.Report(ctx, "campaign-summary", analytics.ReportParams{})
	if err != nil {
		t.Fatal(err)
	}
	var orders int64
	for _, row := range res.Rows {
		for i, col := range res.Columns {
			if col == "orders" {
				switch v := row[i].(type) {
				case uint64:
					orders += int64(v)
				case int64:
					orders += v
				}
			}
		}
	}
	var raw uint64
	if err := conn.DB().QueryRow(ctx, "SELECT count() FROM orders").Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if uint64(orders) != raw {
		t.Errorf("campaign-summary: %d orders, raw table %d", orders, raw)
	}
	got := [][]any{}
	for _, r := range res.Rows {
		if r[2].(uint64) > 0 {
			got = append(got, []any{r[0], r[1], r[2], r[4]})
		}
	}
	if want := rawSummary(t, conn, analytics.ReportParams{}); !reflect.DeepEqual(got, want) {
		t.Errorf("campaign-summary: got (campaign, currency, orders, buyers) %v, raw orders say %v", got, want)
	}
}

// TestRepairRollups simulates a crash between a raw part and its view
// (the view detached while raw rows are written), then repairs: the
// rollups and the reports equal the raw tables again, and a second repair
// finds nothing.
func TestRepairRollups(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	ctx := context.Background()
	if err := conn.Write(ctx, orderBatch([]int32{0, 1}, 0, 50), time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, mv := range []string{"orders_per_minute_mv", "campaign_buyers_mv"} {
		if err := conn.DB().Exec(ctx, "DETACH TABLE "+mv); err != nil {
			t.Fatal(err)
		}
	}
	b := orderBatch([]int32{0, 1}, 50, 30)
	b.AddCoupon(analytics.Source{Topic: "coupons", Partition: 0, Offset: 0}, &schemas.Coupon{EventID: "c1", Version: 1,
		CouponID: "c1", UserID: "u-1", CampaignID: "bf", RuleID: "r", Value: 500, Currency: "EUR",
		IssuedAt: time.Date(2025, 11, 28, 10, 0, 0, 0, time.UTC), ExpiresAt: time.Date(2025, 11, 28, 11, 0, 0, 0, time.UTC)})
	if err := conn.Write(ctx, b, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, mv := range []string{"orders_per_minute_mv", "campaign_buyers_mv"} {
		if err := conn.DB().Exec(ctx, "ATTACH TABLE "+mv); err != nil {
			t.Fatal(err)
		}
	}
	if raw, rolled := rollupVsRaw(t, conn); raw != 160 || rolled != 100 {
		t.Fatalf("after the simulated crash: raw %d, rollup %d; want 160 and 100", raw, rolled)
	}

	dry, err := conn.RepairRollups(ctx, analytics.RepairOpts{DryRun: true})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if len(dry) == 0 {
		t.Fatal("dry run found no key to repair, want the minutes written without the view")
	}
	if raw, rolled := rollupVsRaw(t, conn); rolled != 100 {
		t.Fatalf("after a dry run: rollup %d (raw %d), want it untouched", rolled, raw)
	}
	// Rows ingested within Settle are left alone.
	young, err := conn.RepairRollups(ctx, analytics.RepairOpts{Settle: 2 * time.Hour})
	if err != nil || len(young) == 0 {
		t.Fatalf("repair with a settle time longer than the rows' age: %d keys (%v), want them reported", len(young), err)
	}
	for _, f := range young {
		if f.Fixed || !f.Unsettled {
			t.Errorf("repair with a settle time longer than the rows' age: got %+v, want unsettled and not fixed", f)
		}
	}
	fixes, err := conn.RepairRollups(ctx, analytics.RepairOpts{Since: time.Now().Add(-2 * time.Hour)})
	if err != nil {
		t.Fatalf("repair: %v", err)
	}
	var missing int64
	buyerFixes := 0
	for _, f := range fixes {
		switch {
		case !f.Fixed:
			t.Errorf("fix %+v: want it fixed", f)
		case f.Rollup == "orders_per_minute":
			missing += f.Raw - f.Rolled
		case f.Rollup == "campaign_buyers":
			buyerFixes++
		default:
			t.Errorf("fix %+v: want orders_per_minute and campaign_buyers keys only", f)
		}
	}
	if missing != 60 {
		t.Errorf("repair added %d orders, want 60", missing)
	}
	if buyerFixes == 0 {
		t.Error("repair fixed no campaign_buyers minute, want those of the orders written without its view")
	}
	checkReportsEqualRaw(t, conn)
	if again, err := conn.RepairRollups(ctx, analytics.RepairOpts{}); err != nil || len(again) != 0 {
		t.Errorf("second repair: %d keys (%v), want none", len(again), err)
	}
}
