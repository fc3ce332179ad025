package sink_test

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/stream/sink"
)

// TestSinkRepairsRollupsAfterRecovery leaves the rollups short of raw rows
// (the views detached while the sink writes, as a crash between a raw part
// and its view would), then kills ClickHouse under the sink: its next write
// fails, and a settle time after the retry succeeded the sink repairs the
// rollups, which then equal the raw tables.
func TestSinkRepairsRollupsAfterRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("ClickHouse restart test is long; runs without -short (and always in CI)")
	}
	srv, err := analytics.StartLocal(context.Background(), t.TempDir(), analytics.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		testenv.Unavailable(t, "no local ClickHouse: "+err.Error())
	}
	t.Cleanup(func() { _ = srv.Stop() })
	ctx := context.Background()
	ch, err := analytics.Open(ctx, analytics.Config{Addr: srv.Addr(), Database: "repair"})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if _, err := ch.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	brokers := testenv.Kafka(t, topics.All()...)
	for _, v := range []string{"orders_per_minute_mv", "events_per_minute_mv", "coupons_per_minute_mv"} {
		if err := ch.DB().Exec(ctx, "DETACH TABLE "+v); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(41, 42))
	recs, w := genRecords(rng, 5000, time.Now().Add(-time.Hour))
	produce(t, brokers, recs)
	runSink(t, ch, brokers, sink.WithRollupRepair(1500*time.Millisecond), sink.WithMaxRetryBackoff(300*time.Millisecond))
	waitFor(t, ch, w, time.Minute)
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

	// ClickHouse crashes; the sink's next write fails and is retried once
	// the server is back (which also brings the views back).
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	more, w2 := genRecords(rng, 2000, time.Now().Add(-time.Hour))
	produce(t, brokers, more)
	w.add(w2)
	time.Sleep(time.Second)
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, w, time.Minute)
	deadline := time.Now().Add(time.Minute)
	for {
		o, e, c := rolled()
		if o == w.rows[analytics.TableOrders] && e == w.rows[analytics.TableUserEvents] && c == w.rows[analytics.TableCoupons] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollups after the sink's repair: %d orders, %d events, %d coupons; want %d, %d, %d",
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
