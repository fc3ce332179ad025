package loadgen

import (
	"context"
	"testing"
	"time"

	"github.com/surgeio/surge/schemas"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// topicOf is the topic surge writes a record kind to.
func topicOf(k schemas.Kind) string {
	if k == schemas.KindUserEvent {
		return "user-events"
	}
	return "orders"
}

// TestProduceToKafka produces a run through a real kgo client to an
// in-process Kafka-protocol cluster and reads it back.
func TestProduceToKafka(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(8, "orders", "user-events"))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	defer cluster.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	defer cl.Close()

	send := func(ctx context.Context, r schemas.Record, done func(error)) {
		value, err := schemas.Encode(r)
		if err != nil {
			done(err)
			return
		}
		rec := &kgo.Record{Topic: topicOf(r.Kind()), Key: []byte(r.Key()), Value: value}
		cl.Produce(ctx, rec, func(_ *kgo.Record, err error) { done(err) })
	}
	g, err := New(Config{Seed: 5, MaxRecords: 20000, MaxInFlight: 2000, Users: 500}, send)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := g.Run(ctx)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st.Acked != 20000 || st.Failed != 0 {
		t.Fatalf("Acked %d Failed %d, want 20000 and 0", st.Acked, st.Failed)
	}

	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "orders", "user-events")
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	perTopic := map[string]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Errorf("end offset of %s/%d: %v", o.Topic, o.Partition, o.Err)
		}
		perTopic[o.Topic] += o.Offset
	})
	if got, want := perTopic["orders"]+perTopic["user-events"], st.Acked; got != want {
		t.Errorf("records in Kafka = %d, want Stats.Acked %d", got, want)
	}
	if got, want := perTopic["orders"], st.ByKind[schemas.KindOrder]+st.ByKind[schemas.KindOrderStatus]; got != want {
		t.Errorf("records in orders = %d, want orders+statuses acked %d", got, want)
	}

	// Read everything back: it decodes, and each user's records come out of
	// each topic in the order they were generated (event ids count up).
	consumer, err := kgo.NewClient(
		kgo.SeedBrokers(cluster.ListenAddrs()...),
		kgo.ConsumeTopics("orders", "user-events"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer consumer.Close()
	var read int64
	var orders, gmvUSD int64
	last := map[string]string{} // topic+user → last event id
	for read < st.Acked && ctx.Err() == nil {
		fetches := consumer.PollFetches(ctx)
		fetches.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s/%d: %v", topic, p, err)
		})
		fetches.EachRecord(func(kr *kgo.Record) {
			read++
			r, err := schemas.Decode(kr.Value)
			if err != nil {
				t.Fatalf("decode %s/%d@%d: %v", kr.Topic, kr.Partition, kr.Offset, err)
			}
			if string(kr.Key) != r.Key() {
				t.Fatalf("record key %q, want user id %q", kr.Key, r.Key())
			}
			k := kr.Topic + "/" + r.Key()
			if prev := last[k]; prev >= r.ID() {
				t.Fatalf("%s: event %s after %s, want generation order", k, r.ID(), prev)
			}
			last[k] = r.ID()
			if o, ok := r.(*schemas.Order); ok {
				orders++
				if o.CampaignID == "black-friday" {
					gmvUSD += o.Amount
				}
			}
		})
	}
	if read != st.Acked {
		t.Fatalf("read back %d records, want %d", read, st.Acked)
	}
	var wantOrders int64
	for _, c := range st.Campaigns {
		wantOrders += c.Orders
	}
	if orders != wantOrders || gmvUSD != st.Campaigns["black-friday"].GMV {
		t.Errorf("Kafka holds %d orders and black-friday GMV %d, want %d and %d", orders, gmvUSD, wantOrders, st.Campaigns["black-friday"].GMV)
	}
}
