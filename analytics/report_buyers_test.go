package analytics_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/schemas"
)

// buyersBatch is n orders of 30 shoppers across campaigns bf (EUR and
// USD), cm (JPY) and ny (KRW), at seconds drawn between start and start+span.
func buyersBatch(rng *rand.Rand, first, n int, start time.Time, span time.Duration) *analytics.Batch {
	b := analytics.NewBatch()
	camps := [][2]string{{"bf", "EUR"}, {"bf", "USD"}, {"cm", "JPY"}, {"ny", "KRW"}}
	for i := first; i < first+n; i++ {
		c := camps[rng.IntN(len(camps))]
		b.AddOrder(analytics.Source{Topic: "orders", Partition: 0, Offset: int64(i)}, &schemas.Order{
			EventID: fmt.Sprintf("e-%d", i), Version: 1, OrderID: fmt.Sprintf("o-%d", i),
			UserID: fmt.Sprintf("u-%d", rng.IntN(30)), Amount: 100, Currency: c[1], CampaignID: c[0],
			Items:     []schemas.Item{{SKU: "s", Qty: 1, UnitPrice: 100}},
			Priority:  schemas.PriorityNormal,
			CreatedAt: start.Add(time.Duration(rng.Int64N(int64(span/time.Second))) * time.Second),
		})
	}
	return b
}

// rawSummary is campaign, currency, orders and distinct buyers per
// campaign and currency, from the raw orders whose minute is in p's range.
func rawSummary(t *testing.T, conn *analytics.Conn, p analytics.ReportParams) [][]any {
	t.Helper()
	w, args := "WHERE 1", []any{}
	if p.Campaign != "" {
		w += " AND campaign_id = ?"
		args = append(args, p.Campaign)
	}
	if !p.From.IsZero() {
		w += " AND toStartOfMinute(created_at) >= toDateTime(?)"
		args = append(args, p.From.Unix())
	}
	if !p.To.IsZero() {
		w += " AND toStartOfMinute(created_at) < toDateTime(?)"
		args = append(args, p.To.Unix())
	}
	res, err := conn.QueryTable(context.Background(), `
SELECT campaign_id, currency, count(), uniqExact(user_id) FROM orders `+w+`
GROUP BY campaign_id, currency ORDER BY campaign_id, currency`, args...)
	if err != nil {
		t.Fatal(err)
	}
	return res.Rows
}

// checkBuyers compares campaign-summary's orders and buyers with the raw
// orders for ranges cut at minutes, across hours, inside a shopper's gap
// between orders, through the page's relative ranges and empty: counted
// over the largest part kept in memory, and in SQL.
func checkBuyers(t *testing.T, conn, kept *analytics.Conn, stage string) {
	t.Helper()
	checkBuyersOnce(t, conn, stage+", in SQL")
	checkBuyersOnce(t, kept, stage+", parts kept in memory")
	t.Run("", func(t *testing.T) {
		analytics.SetMaxKeptRows(t, 0)
		checkBuyersOnce(t, kept, stage+", too many rows to keep")
	})
}

func checkBuyersOnce(t *testing.T, conn *analytics.Conn, stage string) {
	t.Helper()
	now := at("12:40:00")
	relative := func(campaign, from, to string) analytics.ReportParams {
		p, err := analytics.ParseReportParams(campaign, from, to, now)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, p := range []analytics.ReportParams{
		{},
		{Campaign: "bf"},
		{From: at("10:59:30")},
		{To: at("11:00:00")},
		{From: at("10:30:00"), To: at("11:30:00")},
		{From: at("11:00:00"), To: at("11:01:00")},
		{Campaign: "bf", From: at("11:59:00"), To: at("12:01:00")},
		{From: at("12:00:00")},
		{From: at("13:00:00")},
		relative("", "1h", ""),
		relative("", "3h", ""),
		relative("ny", "90m", "30m"),
	} {
		res, err := conn.Report(context.Background(), "campaign-summary", p)
		if err != nil {
			t.Fatalf("%s: campaign-summary %+v: %v", stage, p, err)
		}
		got := [][]any{}
		for _, r := range res.Rows {
			if r[2].(uint64) > 0 { // rows with coupons only have no orders
				got = append(got, []any{r[0], r[1], r[2], r[4]})
			}
		}
		if want := rawSummary(t, conn, p); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: campaign-summary %+v: got (campaign, currency, orders, buyers) %v, raw orders say %v", stage, p, got, want)
		}
	}
}

// buyersParts is the number of active parts of campaign_buyers.
func buyersParts(t *testing.T, conn *analytics.Conn) uint64 {
	t.Helper()
	var n uint64
	err := conn.DB().QueryRow(context.Background(), `SELECT count() FROM system.parts
WHERE database = currentDatabase() AND table = 'campaign_buyers' AND active`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCampaignSummaryBuyersExact checks that the buyers campaign-summary
// counts from campaign_buyers, in SQL and over parts kept in memory, equal
// the distinct shoppers of the raw orders: with the shoppers spread over
// parts not merged yet, after a merge into one part (the kept parts merged
// away), and with new parts next to the merged one.
func TestCampaignSummaryBuyersExact(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	ctx := context.Background()
	kept, err := analytics.Open(ctx, analytics.Config{Addr: conn.Addr(), Database: conn.Database()})
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	kept.KeepBuyersParts()
	exec := func(q string) {
		t.Helper()
		if err := conn.DB().Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rng := rand.New(rand.NewPCG(16, 7))
	checkBuyers(t, conn, kept, "no orders yet")
	exec("SYSTEM STOP MERGES campaign_buyers")
	off := 0
	write := func(n int, start time.Time, span time.Duration) {
		t.Helper()
		if err := conn.Write(ctx, buyersBatch(rng, off, n, start, span), time.Now()); err != nil {
			t.Fatal(err)
		}
		off += n
	}
	for range 5 { // each batch is a part: shoppers repeat across parts
		write(40, at("10:50:00"), 80*time.Minute)
	}
	if n := buyersParts(t, conn); n < 5 {
		t.Fatalf("campaign_buyers has %d parts with merges stopped, want 5", n)
	}
	checkBuyers(t, conn, kept, "unmerged")

	exec("SYSTEM START MERGES campaign_buyers")
	exec("OPTIMIZE TABLE campaign_buyers FINAL")
	if n := buyersParts(t, conn); n != 1 {
		t.Fatalf("campaign_buyers has %d parts after OPTIMIZE FINAL, want 1", n)
	}
	checkBuyers(t, conn, kept, "merged")

	exec("SYSTEM STOP MERGES campaign_buyers")
	t.Cleanup(func() { _ = conn.DB().Exec(context.Background(), "SYSTEM START MERGES campaign_buyers") })
	write(30, at("11:58:00"), 4*time.Minute) // across the hour
	write(30, at("09:00:00"), 3*time.Hour)   // late and early orders of known shoppers
	checkBuyers(t, conn, kept, "merged and new parts")

	// The largest part is merged away between finding its name and
	// reading: the count in SQL is still exact.
	for _, head := range []string{"", "all_999_999_0"} {
		for _, p := range []analytics.ReportParams{{}, {From: at("11:00:00"), To: at("12:00:00")}} {
			got, err := analytics.BuyersWithHead(ctx, conn, p, head)
			if err != nil {
				t.Fatal(err)
			}
			want := map[[2]string]uint64{}
			for _, r := range rawSummary(t, conn, p) {
				want[[2]string{r[0].(string), r[1].(string)}] = r[3].(uint64)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("buyers with head part %q, %+v: got %v, raw orders say %v", head, p, got, want)
			}
		}
	}
}
