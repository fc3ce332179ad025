package plan

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/dispatch"
)

func testCluster(t *testing.T, partitions int32, topics ...string) (stream.ClientConfig, *kadm.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	cc := stream.ClientConfig{Brokers: c.ListenAddrs()}
	cl, err := cc.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cc, kadm.NewClient(cl)
}

func TestProbe(t *testing.T) {
	cc, adm := testCluster(t, 2, "orders")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var progressCalls atomic.Int64
	c, err := Probe(ctx, cc,
		WithProbeDuration(500*time.Millisecond),
		WithProbeRecordBytes(300),
		WithProbeMaxBytes(64<<20),
		WithProbeProgress(func(ProbeProgress) { progressCalls.Add(1) }),
		WithProbeLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if c.ProduceRecordsPerSec <= 0 || c.ConsumeRecordsPerSec <= 0 {
		t.Errorf("got produce %v rec/s, consume %v rec/s; want both above 0", c.ProduceRecordsPerSec, c.ConsumeRecordsPerSec)
	}
	if got, want := c.ProduceBytesPerSec, c.ProduceRecordsPerSec*300; got != want {
		t.Errorf("produce bytes/s: got %v, want %v (300-byte records)", got, want)
	}
	if c.Source != SourceProbe || !strings.Contains(c.Detail, "surge-probe-") || !strings.Contains(c.Detail, "acks=all") {
		t.Errorf("got source %q, detail %q; want the probe named", c.Source, c.Detail)
	}
	t.Logf("%s: produce %.0f rec/s, consume %.0f rec/s", c.Detail, c.ProduceRecordsPerSec, c.ConsumeRecordsPerSec)
	if progressCalls.Load() == 0 {
		t.Errorf("progress was never reported")
	}
	tds, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name := range tds {
		if strings.HasPrefix(name, probePrefix) {
			t.Errorf("probe topic %s still exists after the probe", name)
		}
	}
	if _, ok := tds["orders"]; !ok {
		t.Errorf("the probe touched other topics: orders is gone")
	}
}

func TestProbeCancelledDeletesTopic(t *testing.T) {
	cc, adm := testCluster(t, 1, "orders")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err := Probe(ctx, cc, WithProbeDuration(10*time.Second), WithProbeLogger(slog.New(slog.DiscardHandler)))
	if err == nil {
		t.Fatal("Probe with a cancelled context: got no error")
	}
	tds, err := adm.ListTopics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for name := range tds {
		if strings.HasPrefix(name, probePrefix) {
			t.Errorf("probe topic %s left behind after cancellation", name)
		}
	}
}

func TestReadState(t *testing.T) {
	topics := stream.DefaultTopics()
	cc, adm := testCluster(t, 4, topics.Orders, topics.UserEvents, dispatch.RetryTopic("payment", topics.Orders))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A sink-like group with a live member on both data topics, and a
	// dispatch group that only committed offsets (no member now).
	cl, err := cc.NewClient(kgo.ConsumerGroup("surge-sink"), kgo.ConsumeTopics(topics.Orders, topics.UserEvents))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
		cl.PollRecords(pctx, 1) // keeps the member in the group
		pcancel()
		dg, err := adm.DescribeGroups(ctx, "surge-sink")
		if err == nil && dg["surge-sink"].State == "Stable" && len(dg["surge-sink"].Members) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("surge-sink never became Stable: %+v, %v", dg, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := adm.CommitOffsets(ctx, "payment", kadm.OffsetsFromRecords(kgo.Record{Topic: topics.Orders, Partition: 0, Offset: 0})); err != nil {
		t.Fatal(err)
	}

	st, err := ReadState(ctx, adm, topics.All())
	if err != nil {
		t.Fatal(err)
	}
	if st.Brokers != 1 {
		t.Errorf("brokers: got %d, want 1", st.Brokers)
	}
	if o := st.Topic(topics.Orders); !o.Exists || o.Partitions != 4 || o.Replication != 1 {
		t.Errorf("orders: got %+v, want 4 partitions, replication 1", o)
	}
	if c := st.Topic(topics.Coupons); c.Exists {
		t.Errorf("coupons: got %+v, want missing", c)
	}
	sink, ok := st.Group("surge-sink")
	if !ok || sink.Members != 1 || sink.State != "Stable" || strings.Join(sink.Topics, ",") != "orders,user-events" || sink.Dispatch {
		t.Errorf("surge-sink: got %+v (found %v), want 1 member, Stable, orders and user-events, not dispatch", sink, ok)
	}
	pay, ok := st.Group("payment")
	if !ok || pay.Members != 0 || !pay.Dispatch || strings.Join(pay.Topics, ",") != "orders" {
		t.Errorf("payment: got %+v (found %v), want a dispatch group on orders with no members", pay, ok)
	}
}
