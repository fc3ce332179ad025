package gateway

import (
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/stream"
)

// batchCounter counts the record batches a producer wrote per topic.
type batchCounter struct {
	topic   string
	batches atomic.Int64
	records atomic.Int64
}

func (b *batchCounter) OnProduceBatchWritten(_ kgo.BrokerMetadata, topic string, _ int32, m kgo.ProduceBatchMetrics) {
	if topic == b.topic {
		b.batches.Add(1)
		b.records.Add(int64(m.NumRecords))
	}
}

// Results are written to the idempotency topic in batches, not one small
// batch per request, and read back as they were.
func TestIdemLogWritesInBatches(t *testing.T) {
	c := cluster(t)
	addrs := c.ListenAddrs()
	ctx := testCtx(t)
	cfg := defaultConfig()
	hook := &batchCounter{topic: cfg.idemTopic}
	p, err := stream.NewProducer(stream.WithBrokers(addrs...), stream.WithLinger(0), stream.WithClientOpts(kgo.WithHooks(hook)))
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	t.Cleanup(p.Close)
	cl, err := kgo.NewClient(p.ClusterOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if err := ensureIdemTopic(ctx, cl, &cfg); err != nil {
		t.Fatalf("ensureIdemTopic: %v", err)
	}
	const n = 500
	created := time.Now().UnixMilli()
	l := newIdemLog(cfg.idemTopic, p, slog.New(slog.DiscardHandler))
	for i := range n {
		key := "shop|o:order-" + strconv.Itoa(i)
		l.enqueue(&claim{key: key, hash: hashBody([]byte(key)), created: created},
			[]savedAck{{ok: true, kind: "order", eventID: "ev-" + strconv.Itoa(i), ack: stream.Ack{Topic: "orders", Partition: int32(i % 4), Offset: int64(i)}}})
	}
	l.close()
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if got := l.written.Load(); got != n || l.failed.Load()+l.dropped.Load() != 0 {
		t.Errorf("written %d, failed %d, dropped %d; want %d written", got, l.failed.Load(), l.dropped.Load(), n)
	}
	// Alone on the machine they go out in one batch per partition; a
	// busy machine splits bursts further, but never into one per result.
	t.Logf("%d results went out in %d batches", hook.records.Load(), hook.batches.Load())
	if got, limit := hook.batches.Load(), int64(n/2); got > limit {
		t.Errorf("%d results went out in %d batches, want at most %d", hook.records.Load(), got, limit)
	}
	w := newWindow(cfg.idemWindow, cfg.idemMaxKeys, time.Now)
	if got, err := loadIdempotency(ctx, cl, &cfg, w); err != nil || got != n {
		t.Fatalf("loadIdempotency: got %d results (%v), want %d", got, err, n)
	}
	for _, i := range []int{0, 123, n - 1} {
		key := "shop|o:order-" + strconv.Itoa(i)
		cl, _, st := w.begin(key, hashBody([]byte(key)))
		if st != claimed || !cl.accepted(0) || cl.acks[0].ack.Offset != int64(i) || cl.acks[0].eventID != "ev-"+strconv.Itoa(i) {
			t.Errorf("key %d read back: got %v %+v, want its ack at offset %d", i, st, cl, i)
		}
	}
	l.enqueue(&claim{key: "shop|o:late"}, []savedAck{{ok: true}})
	if got := l.dropped.Load(); got != 1 {
		t.Errorf("a result after close: got %d dropped, want 1", got)
	}
}
