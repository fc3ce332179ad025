package analytics_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/schemas"
)

// at is a time on the campaign day, 2024-11-29, UTC.
func at(hhmmss string) time.Time { return utc("2024-11-29T" + hhmmss + "Z") }

// loadReportData writes a small campaign dataset whose report numbers are
// worked out by hand in the tests below.
//
// Campaign bf (EUR): orders o1 (u1, 10:00:30, coupon), o2 (u2, 10:01:10),
// o3 (u1, 10:05:00); coupons c1, c2. Campaign xmas (USD): order o4 (u3,
// 11:00:00, coupon), coupon c3. Campaign spring: coupon c4 only.
func loadReportData(t *testing.T, conn *analytics.Conn) {
	t.Helper()
	b := analytics.NewBatch()
	var off int64
	src := func() analytics.Source { off++; return analytics.Source{Topic: "t", Offset: off} }
	item := func(sku string, qty, price int64) schemas.Item {
		return schemas.Item{SKU: sku, Qty: qty, UnitPrice: price}
	}
	for _, o := range []schemas.Order{
		{OrderID: "o1", UserID: "u1", CampaignID: "bf", Currency: "EUR", Amount: 3000, CouponID: "c1",
			Items: []schemas.Item{item("A", 1, 1000), item("B", 2, 1000)}, CreatedAt: at("10:00:30")},
		{OrderID: "o2", UserID: "u2", CampaignID: "bf", Currency: "EUR", Amount: 1500,
			Items: []schemas.Item{item("A", 1, 1000), item("C", 1, 500)}, CreatedAt: at("10:01:10")},
		{OrderID: "o3", UserID: "u1", CampaignID: "bf", Currency: "EUR", Amount: 2000,
			Items: []schemas.Item{item("B", 2, 1000)}, CreatedAt: at("10:05:00")},
		{OrderID: "o4", UserID: "u3", CampaignID: "xmas", Currency: "USD", Amount: 700, CouponID: "c3",
			Items: []schemas.Item{item("D", 1, 700)}, CreatedAt: at("11:00:00")},
	} {
		b.AddOrder(src(), &o)
	}
	for _, c := range []schemas.Coupon{
		{CouponID: "c1", UserID: "u1", CampaignID: "bf", RuleID: "r1", Value: 500, Currency: "EUR", IssuedAt: at("09:59:00")},
		{CouponID: "c2", UserID: "u2", CampaignID: "bf", RuleID: "r1", Value: 500, Currency: "EUR", IssuedAt: at("10:00:00")},
		{CouponID: "c3", UserID: "u3", CampaignID: "xmas", RuleID: "r2", Value: 300, Currency: "USD", IssuedAt: at("10:30:00")},
		{CouponID: "c4", UserID: "u9", CampaignID: "spring", RuleID: "r3", Value: 100, Currency: "EUR", IssuedAt: at("10:00:00")},
	} {
		b.AddCoupon(src(), &c)
	}
	ev := func(user, campaign string, typ schemas.EventType, ts string) {
		b.AddUserEvent(src(), &schemas.UserEvent{UserID: user, CampaignID: campaign, Type: typ, TS: at(ts)})
	}
	// u1: every step, then o1 at 10:00:30 → reaches step 4.
	ev("u1", "bf", schemas.EventPageView, "10:00:00")
	ev("u1", "bf", schemas.EventSearch, "10:00:05") // not a funnel step
	ev("u1", "bf", schemas.EventAddToCart, "10:00:10")
	ev("u1", "bf", schemas.EventCheckoutStarted, "10:00:20")
	// u2: no checkout_started before o2 → reaches step 2.
	ev("u2", "bf", schemas.EventPageView, "10:00:40")
	ev("u2", "bf", schemas.EventAddToCart, "10:00:50")
	// u4: views only → step 1.
	ev("u4", "bf", schemas.EventPageView, "10:02:00")
	// u5: never viewed → not in the funnel.
	ev("u5", "bf", schemas.EventAddToCart, "10:03:00")
	// u6: adds to cart 90 minutes after the view, outside the window → step 1.
	ev("u6", "bf", schemas.EventPageView, "08:00:00")
	ev("u6", "bf", schemas.EventAddToCart, "09:30:00")
	// u3: every step, then o4 → step 4.
	ev("u3", "xmas", schemas.EventPageView, "10:59:00")
	ev("u3", "xmas", schemas.EventAddToCart, "10:59:10")
	ev("u3", "xmas", schemas.EventCheckoutStarted, "10:59:20")
	if err := conn.Write(context.Background(), b, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func TestReports(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	loadReportData(t, conn)
	ctx := context.Background()

	tests := []struct {
		name, report string
		params       analytics.ReportParams
		wantCols     []string
		want         [][]any
	}{
		{"campaign-summary", "campaign-summary", analytics.ReportParams{},
			[]string{"campaign", "currency", "orders", "gmv", "buyers", "avg_order_value", "coupons_issued", "coupons_redeemed"},
			[][]any{
				{"bf", "EUR", uint64(3), int64(6500), uint64(2), 2166.67, uint64(2), uint64(1)},
				{"spring", "EUR", uint64(0), int64(0), uint64(0), 0.0, uint64(1), uint64(0)},
				{"xmas", "USD", uint64(1), int64(700), uint64(1), 700.0, uint64(1), uint64(1)},
			}},
		{"campaign-summary bf from 10:01", "campaign-summary", analytics.ReportParams{Campaign: "bf", From: at("10:01:00")},
			nil,
			[][]any{{"bf", "EUR", uint64(2), int64(3500), uint64(2), 1750.0, uint64(0), uint64(0)}}},
		{"campaign-summary bf up to 10:05", "campaign-summary", analytics.ReportParams{Campaign: "bf", To: at("10:05:00")},
			nil,
			[][]any{{"bf", "EUR", uint64(2), int64(4500), uint64(2), 2250.0, uint64(2), uint64(1)}}},
		{"campaign-summary bf 10:01 to 10:06", "campaign-summary", analytics.ReportParams{Campaign: "bf", From: at("10:01:00"), To: at("10:06:00")},
			nil,
			[][]any{{"bf", "EUR", uint64(2), int64(3500), uint64(2), 1750.0, uint64(0), uint64(0)}}},
		{"gmv-per-minute", "gmv-per-minute", analytics.ReportParams{},
			[]string{"minute", "campaign", "currency", "orders", "gmv"},
			[][]any{
				{at("10:00:00"), "bf", "EUR", uint64(1), int64(3000)},
				{at("10:01:00"), "bf", "EUR", uint64(1), int64(1500)},
				{at("10:05:00"), "bf", "EUR", uint64(1), int64(2000)},
				{at("11:00:00"), "xmas", "USD", uint64(1), int64(700)},
			}},
		{"gmv-per-minute bf 10:01 to 10:06", "gmv-per-minute",
			analytics.ReportParams{Campaign: "bf", From: at("10:01:00"), To: at("10:06:00")}, nil,
			[][]any{
				{at("10:01:00"), "bf", "EUR", uint64(1), int64(1500)},
				{at("10:05:00"), "bf", "EUR", uint64(1), int64(2000)},
			}},
		{"gmv-per-minute to is exclusive", "gmv-per-minute", analytics.ReportParams{To: at("10:01:00")}, nil,
			[][]any{{at("10:00:00"), "bf", "EUR", uint64(1), int64(3000)}}},
		{"funnel", "funnel", analytics.ReportParams{},
			[]string{"campaign", "page_view", "add_to_cart", "checkout_started", "ordered", "conversion"},
			[][]any{
				{"bf", uint64(4), uint64(2), uint64(1), uint64(1), 0.25},
				{"xmas", uint64(1), uint64(1), uint64(1), uint64(1), 1.0},
			}},
		{"funnel bf 10:00 to 10:02", "funnel",
			analytics.ReportParams{Campaign: "bf", From: at("10:00:00"), To: at("10:02:00")}, nil,
			[][]any{{"bf", uint64(2), uint64(2), uint64(1), uint64(1), 0.5}}},
		{"top-skus", "top-skus", analytics.ReportParams{},
			[]string{"sku", "currency", "units", "revenue", "orders"},
			[][]any{
				{"B", "EUR", int64(4), int64(4000), uint64(2)},
				{"A", "EUR", int64(2), int64(2000), uint64(2)},
				{"D", "USD", int64(1), int64(700), uint64(1)},
				{"C", "EUR", int64(1), int64(500), uint64(1)},
			}},
		{"top-skus xmas", "top-skus", analytics.ReportParams{Campaign: "xmas"}, nil,
			[][]any{{"D", "USD", int64(1), int64(700), uint64(1)}}},
		{"top-skus bf after 10:01", "top-skus", analytics.ReportParams{Campaign: "bf", From: at("10:01:00")}, nil,
			[][]any{
				{"B", "EUR", int64(2), int64(2000), uint64(1)},
				{"A", "EUR", int64(1), int64(1000), uint64(1)},
				{"C", "EUR", int64(1), int64(500), uint64(1)},
			}},
		{"funnel-events", "funnel-events", analytics.ReportParams{},
			[]string{"campaign", "page_view", "add_to_cart", "checkout_started", "orders"},
			[][]any{
				{"bf", uint64(4), uint64(4), uint64(1), uint64(3)},
				{"xmas", uint64(1), uint64(1), uint64(1), uint64(1)},
			}},
		{"funnel-events bf 10:00 to 10:02", "funnel-events",
			analytics.ReportParams{Campaign: "bf", From: at("10:00:00"), To: at("10:02:00")}, nil,
			[][]any{{"bf", uint64(2), uint64(2), uint64(1), uint64(2)}}},
		{"coupons-per-rule", "coupons-per-rule", analytics.ReportParams{},
			[]string{"campaign", "rule", "issued", "issued_value"},
			[][]any{
				{"bf", "r1", uint64(2), int64(1000)},
				{"spring", "r3", uint64(1), int64(100)},
				{"xmas", "r2", uint64(1), int64(300)},
			}},
		{"coupons-per-rule from 10:00", "coupons-per-rule", analytics.ReportParams{From: at("10:00:00")}, nil,
			[][]any{
				{"bf", "r1", uint64(1), int64(500)},
				{"spring", "r3", uint64(1), int64(100)},
				{"xmas", "r2", uint64(1), int64(300)},
			}},
		{"empty range", "gmv-per-minute", analytics.ReportParams{From: at("12:00:00"), To: at("13:00:00")}, nil,
			[][]any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := conn.Report(ctx, tt.report, tt.params)
			if err != nil {
				t.Fatalf("Report: %v", err)
			}
			if res.Name != tt.report {
				t.Errorf("Name = %q, want %q", res.Name, tt.report)
			}
			if tt.wantCols != nil && !reflect.DeepEqual(res.Columns, tt.wantCols) {
				t.Errorf("columns: got %q, want %q", res.Columns, tt.wantCols)
			}
			if !reflect.DeepEqual(res.Rows, tt.want) {
				t.Errorf("rows:\ngot  %#v\nwant %#v", res.Rows, tt.want)
			}
		})
	}
}

// TestReportInjection feeds SQL through --campaign: every report must treat
// it as a plain value, returning no rows, no error, and no damage.
func TestReportInjection(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	loadReportData(t, conn)
	ctx := context.Background()
	attempts := []string{
		"bf' OR '1'='1",
		"bf' OR 1=1 --",
		`bf\' OR 1=1 --`,
		"x'; DROP TABLE orders; --",
		"bf') UNION ALL SELECT name, '', 0, 0, 0, 0., 0, 0 FROM system.tables --",
		"?",
	}
	for _, name := range analytics.ReportNames() {
		for _, campaign := range attempts {
			res, err := conn.Report(ctx, name, analytics.ReportParams{Campaign: campaign})
			if err != nil {
				t.Errorf("%s with campaign %q: %v", name, campaign, err)
				continue
			}
			if len(res.Rows) != 0 {
				t.Errorf("%s with campaign %q: got %d rows, want 0: %v", name, campaign, len(res.Rows), res.Rows)
			}
		}
	}
	got := queryAll(t, conn, "SELECT count() FROM orders")
	if want := [][]any{{uint64(4)}}; !reflect.DeepEqual(got, want) {
		t.Errorf("orders after injection attempts: got %v rows, want %v", got, want)
	}
}

func TestReportCampaigns(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	loadReportData(t, conn)
	got, err := conn.Campaigns(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"bf", "spring", "xmas"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Campaigns() = %q, want %q", got, want)
	}
}

// TestReportDisplayRows checks that the table form of a report writes money
// in major units of each row's currency and leaves the rows themselves (the
// JSON and CSV form) in integer minor units.
func TestReportDisplayRows(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	loadReportData(t, conn)
	res, err := conn.Report(context.Background(), "campaign-summary", analytics.ReportParams{})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{
		{"bf", "EUR", uint64(3), "€65.00", uint64(2), "€21.67", uint64(2), uint64(1)},
		{"spring", "EUR", uint64(0), "€0.00", uint64(0), "€0.00", uint64(1), uint64(0)},
		{"xmas", "USD", uint64(1), "$7.00", uint64(1), "$7.00", uint64(1), uint64(1)},
	}
	if got := res.DisplayRows(); !reflect.DeepEqual(got, want) {
		t.Errorf("DisplayRows:\ngot  %#v\nwant %#v", got, want)
	}
	if res.Rows[0][3] != int64(6500) {
		t.Errorf("Rows[0][3] = %#v after DisplayRows, want int64(6500)", res.Rows[0][3])
	}
}

func TestReportErrors(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	ctx := context.Background()
	_, err := conn.Report(ctx, "revenue", analytics.ReportParams{})
	if !errors.Is(err, analytics.ErrUnknownReport) {
		t.Fatalf("unknown report: got %v, want ErrUnknownReport", err)
	}
	for _, name := range analytics.ReportNames() {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not list report %q", err, name)
		}
	}
	_, err = conn.Report(ctx, "funnel", analytics.ReportParams{From: at("11:00:00"), To: at("10:00:00")})
	if err == nil || !strings.Contains(err.Error(), "must be before") {
		t.Errorf("from after to: got %v, want a must-be-before error", err)
	}
}

func TestReportCatalog(t *testing.T) {
	want := []string{"campaign-summary", "gmv-per-minute", "funnel", "top-skus", "coupon-performance", "funnel-events", "coupons-per-rule"}
	if got := analytics.ReportNames(); !reflect.DeepEqual(got, want) {
		t.Errorf("ReportNames() = %q, want %q", got, want)
	}
	wantRollup := []string{"campaign-summary", "gmv-per-minute", "funnel-events", "coupons-per-rule"}
	if got := analytics.RollupReportNames(); !reflect.DeepEqual(got, wantRollup) {
		t.Errorf("RollupReportNames() = %q, want %q", got, wantRollup)
	}
	for _, name := range want {
		if d := analytics.DescribeReport(name); d == "" || strings.Contains(d, "\n") {
			t.Errorf("DescribeReport(%q) = %q, want one non-empty line", name, d)
		}
	}
	if d := analytics.DescribeReport("nope"); d != "" {
		t.Errorf("DescribeReport(nope) = %q, want empty", d)
	}
}
