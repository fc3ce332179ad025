package sink_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/loadgen"
)

// TestReportsEqualGenerator runs generator → producer → Kafka → sink →
// ClickHouse → report and checks that the campaign summary equals what the
// generator says it produced.
func TestReportsEqualGenerator(t *testing.T) {
	brokers := testenv.Kafka(t, topics.All()...)
	ch := testenv.ClickHouseConn(t)
	stop := runSink(t, ch, brokers)

	p, err := stream.NewProducer(stream.WithBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	g, err := loadgen.New(loadgen.Config{Rate: 20000, Duration: 3 * time.Second, Users: 3000, Seed: 42, Shape: loadgen.ShapeSpike},
		func(ctx context.Context, r schemas.Record, done func(error)) {
			p.ProduceAsync(ctx, r, func(_ stream.Ack, err error) { done(err) })
		})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	stats, err := g.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Failed != 0 || stats.Acked == 0 {
		t.Fatalf("generator: %d acked, %d failed; want all acked", stats.Acked, stats.Failed)
	}
	w := newWant()
	w.rows[analytics.TableOrders] = uint64(stats.ByKind[schemas.KindOrder])
	w.rows[analytics.TableOrderStatus] = uint64(stats.ByKind[schemas.KindOrderStatus])
	w.rows[analytics.TableUserEvents] = uint64(stats.ByKind[schemas.KindUserEvent])
	w.total = uint64(stats.Acked)
	waitFor(t, ch, w, time.Minute)
	stop()
	checkExact(t, ch, w)

	res, err := ch.Report(ctx, "campaign-summary", analytics.ReportParams{})
	if err != nil {
		t.Fatal(err)
	}
	col := func(name string) int {
		for i, c := range res.Columns {
			if c == name {
				return i
			}
		}
		t.Fatalf("campaign-summary has no column %q: %v", name, res.Columns)
		return -1
	}
	ci, oi, gi, bi, cu := col("campaign"), col("orders"), col("gmv"), col("buyers"), col("currency")
	seen := 0
	for _, row := range res.Rows {
		id := row[ci].(string)
		c, ok := stats.Campaigns[id]
		if !ok {
			t.Errorf("report has campaign %q the generator never produced", id)
			continue
		}
		seen++
		got := fmt.Sprintf("orders=%v gmv=%v buyers=%v currency=%v", row[oi], row[gi], row[bi], row[cu])
		want := fmt.Sprintf("orders=%d gmv=%d buyers=%d currency=%s", c.Orders, c.GMV, c.Buyers, c.Currency)
		if got != want {
			t.Errorf("campaign %s: got %s, want %s", id, got, want)
		}
	}
	var withOrders int
	for _, c := range stats.Campaigns {
		if c.Orders > 0 {
			withOrders++
		}
	}
	if seen != withOrders {
		t.Errorf("report has %d campaigns, generator produced orders in %d", seen, withOrders)
	}

	// gmv-per-minute adds up to the same totals.
	res, err = ch.Report(ctx, "gmv-per-minute", analytics.ReportParams{})
	if err != nil {
		t.Fatal(err)
	}
	var orders int64
	for _, row := range res.Rows {
		orders += toInt(t, row[indexOf(res.Columns, "orders")])
	}
	if orders != stats.ByKind[schemas.KindOrder] {
		t.Errorf("gmv-per-minute: got %d orders in all, want %d", orders, stats.ByKind[schemas.KindOrder])
	}
	t.Logf("%d records (%d orders) in %s; reports match", stats.Acked, stats.ByKind[schemas.KindOrder], stats.Elapsed)
}

func indexOf(cols []string, name string) int {
	for i, c := range cols {
		if c == name {
			return i
		}
	}
	return -1
}

func toInt(t *testing.T, v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case uint64:
		return int64(x)
	}
	t.Fatalf("not an integer: %T %v", v, v)
	return 0
}
