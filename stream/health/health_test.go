package health_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/health"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestRead checks each figure against a pipeline in a known state: a group
// that committed 4 of 10 records and has no member, one dead letter, rows
// in ClickHouse, and records arriving between two reads.
func TestRead(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	topics := stream.DefaultTopics()
	brokers := testenv.KafkaPartitions(t, 2, topics.Orders, topics.OrdersPriority, topics.UserEvents, topics.DeadLetters)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func(topic string, n int) {
		t.Helper()
		var recs []*kgo.Record
		for range n {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("{}"), Timestamp: time.Now().Add(-30 * time.Second)})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce(topics.Orders, 10)
	produce(topics.DeadLetters, 1)
	offs := make(kadm.Offsets)
	offs.AddOffset(topics.Orders, 0, 4, -1)
	if err := kadm.NewClient(cl).CommitAllOffsets(ctx, "the-sink", offs); err != nil {
		t.Fatal(err)
	}
	testenv.WriteShop(t, conn, 1, 2, time.Now().UTC())

	p, err := health.New(conn, stream.ClientConfig{Brokers: brokers}, topics, "the-sink")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	first, err := p.Read(ctx)
	if err != nil || len(first.Errors) > 0 {
		t.Fatalf("Read: %v %v", err, first.Errors)
	}
	if len(first.Groups) != 1 || first.Groups[0].Group != "the-sink" || first.Groups[0].LagRecords != 6 || first.Groups[0].Status != "stopped" {
		t.Errorf("groups: %+v, want the-sink stopped with 6 records of lag", first.Groups)
	}
	if first.SinkLagSeconds < 25 || first.SinkLagSeconds > 120 {
		t.Errorf("sink lag %.1fs, want about 30s (the oldest unconsumed record's age)", first.SinkLagSeconds)
	}
	if first.DeadLetters != 1 {
		t.Errorf("dead letters: %d, want 1", first.DeadLetters)
	}
	if first.LastInsertSeconds < 0 || first.LastInsertSeconds > 60 || first.SinkRejects != 0 {
		t.Errorf("last insert %.1fs ago, %d rejects; want a recent insert and none", first.LastInsertSeconds, first.SinkRejects)
	}
	if first.EventsPerSecond != 0 {
		t.Errorf("events/s at the first read: %.1f, want 0", first.EventsPerSecond)
	}
	produce(topics.UserEvents, 20)
	second, err := p.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if second.EventsPerSecond <= 0 {
		t.Errorf("events/s after 20 more records: %.1f, want above 0", second.EventsPerSecond)
	}
}
