package sink_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream/sink"
)

// TestSinkCommitsPastTransactionMarkers: coupons are written in Kafka
// transactions, so every partition of the coupons topic ends with a commit
// marker. The sink writes the coupons once and commits its offsets past
// the marker, to the end of each partition: lag reads 0, and a resize's
// barrier (an end offset) is passed without waiting for a later coupon.
func TestSinkCommitsPastTransactionMarkers(t *testing.T) {
	brokers := testenv.Kafka(t, topics.All()...)
	ch := testenv.ClickHouseConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID("coupon-writer"),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const n = 40
	now := time.Now().UTC()
	for txn := range 2 {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range n / 2 {
			c := &schemas.Coupon{EventID: fmt.Sprintf("ev-%d-%d", txn, i), CouponID: fmt.Sprintf("c-%d-%d", txn, i),
				UserID: fmt.Sprintf("u-%d", i), CampaignID: "bf", RuleID: "r", Value: 500, Currency: "USD",
				IssuedAt: now, ExpiresAt: now.Add(time.Hour), TriggerEventID: "t"}
			v, err := schemas.Encode(c)
			if err != nil {
				t.Fatal(err)
			}
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topics.Coupons, Key: []byte(c.UserID), Value: v}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}

	stop := runSink(t, ch, brokers)
	w := newWant()
	w.rows[analytics.TableCoupons], w.total = n, n
	waitFor(t, ch, w, time.Minute)

	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topics.Coupons)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		committed, err := adm.FetchOffsets(ctx, sink.DefaultGroup)
		if err != nil {
			t.Fatal(err)
		}
		behind := 0
		ends.Each(func(e kadm.ListedOffset) {
			if e.Offset == 0 {
				return
			}
			if c, ok := committed.Lookup(e.Topic, e.Partition); !ok || c.At < e.Offset {
				behind++
			}
		})
		if behind == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d coupons partitions committed short of their end (the transaction marker)", behind)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st := stop(); st.Consumed != n {
		t.Errorf("stats: got %d records consumed, want %d (markers are not records)", st.Consumed, n)
	}
	checkExact(t, ch, w)
}
