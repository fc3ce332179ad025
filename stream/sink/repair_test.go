package sink_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/stream/sink"
)

// TestSinkRepairsRollupsAfterRecovery simulates a crash between raw parts
// and their views (the views detached while a sink writes), then restarts
// the sink: the instance that owns orders/0 repairs the rollups once the
// settle time passed, and every rollup equals its raw table.
func TestSinkRepairsRollupsAfterRecovery(t *testing.T) {
	brokers := testenv.Kafka(t, topics.All()...)
	ch := testenv.ClickHouseConn(t)
	ctx := context.Background()
	views := []string{"orders_per_minute_mv", "events_per_minute_mv", "coupons_per_minute_mv"}
	for _, v := range views {
		if err := ch.DB().Exec(ctx, "DETACH TABLE "+v); err != nil {
			t.Fatal(err)
		}
	}
	recs, w := genRecords(rand.New(rand.NewPCG(41, 42)), 5000, time.Now().Add(-time.Hour))
	produce(t, brokers, recs)
	stop := runSink(t, ch, brokers, sink.WithRollupRepair(0))
	waitFor(t, ch, w, time.Minute)
	stop()
	for _, v := range views {
		if err := ch.DB().Exec(ctx, "ATTACH TABLE "+v); err != nil {
			t.Fatal(err)
		}
	}
	rolled := func() (orders, events, coupons uint64) {
		t.Helper()
		q := `SELECT (SELECT toUInt64(countMerge(orders)) FROM orders_per_minute),
       (SELECT toUInt64(sum(events)) FROM events_per_minute),
       (SELECT toUInt64(countMerge(issued)) FROM coupons_per_minute)`
		if err := ch.DB().QueryRow(ctx, q).Scan(&orders, &events, &coupons); err != nil {
			t.Fatal(err)
		}
		return
	}
	if o, e, c := rolled(); o+e+c != 0 {
		t.Fatalf("rollups hold %d orders, %d events, %d coupons written without their views; want none", o, e, c)
	}

	runSink(t, ch, brokers, sink.WithRollupRepair(1500*time.Millisecond))
	deadline := time.Now().Add(time.Minute)
	for {
		o, e, c := rolled()
		if o == w.rows[analytics.TableOrders] && e == w.rows[analytics.TableUserEvents] && c == w.rows[analytics.TableCoupons] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollups after the restarted sink's repair: %d orders, %d events, %d coupons; want %d, %d, %d",
				o, e, c, w.rows[analytics.TableOrders], w.rows[analytics.TableUserEvents], w.rows[analytics.TableCoupons])
		}
		time.Sleep(200 * time.Millisecond)
	}
	var rawGMV, gmv int64
	if err := ch.DB().QueryRow(ctx, "SELECT sum(amount) FROM orders").Scan(&rawGMV); err != nil {
		t.Fatal(err)
	}
	if err := ch.DB().QueryRow(ctx, "SELECT sumMerge(gmv) FROM orders_per_minute").Scan(&gmv); err != nil {
		t.Fatal(err)
	}
	if gmv != rawGMV {
		t.Errorf("GMV in the rollup after the repair: %d, raw %d", gmv, rawGMV)
	}
}
