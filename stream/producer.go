package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream/control"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrProducerClosed is delivered for records produced after Close.
var ErrProducerClosed = errors.New("producer closed")

// ErrNoTopic is returned for a record whose kind has no topic (a kind surge
// does not know).
var ErrNoTopic = errors.New("no topic for record kind")

// closeFlushTimeout bounds how long Close waits for buffered records.
const closeFlushTimeout = 30 * time.Second

// maxPooledBuf is the largest encode buffer kept for reuse.
const maxPooledBuf = 64 << 10

// Ack is Kafka's acknowledgement of one record: where it was written.
type Ack struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// Producer validates, encodes and writes surge records to Kafka. Records
// are keyed by user id and partitioned with murmur2 like the Java client, so
// one user's records land in one partition in the order they were
// produced, whatever client reads them. Writes are acks=all and
// idempotent: an Ack means the record is stored, and retries never
// duplicate or reorder it.
//
// A Producer is safe for concurrent use.
type Producer struct {
	cl      *kgo.Client
	owns    bool
	topics  Topics
	log     *slog.Logger
	closed  atomic.Bool
	once    sync.Once
	pending sync.Pool // *pending
	waiters sync.Pool // *waiter

	// Resize protocol (producer_resize.go): records handed to the client,
	// counted by the parity of the switch epoch they were handed over in.
	cfg      producerConfig                      // for JoinResizes
	joinMu   sync.Mutex                          // serializes JoinResizes
	ctl      atomic.Pointer[control.Participant] // nil when not taking part
	epoch    atomic.Uint64
	inflight [2]atomic.Int64
	switchMu sync.Mutex
}

// NewProducer returns a Producer. It needs WithBrokers or WithClient. The
// topics must exist (admin.EnsureTopics creates them): the Producer's own
// client does not ask the broker to auto-create topics, so a misspelt topic
// fails records instead of creating a stray topic.
func NewProducer(opts ...ProducerOpt) (*Producer, error) {
	cfg := defaultProducerConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("new producer: %w", err)
	}
	p := &Producer{cl: cfg.client, topics: cfg.topics, log: cfg.logger, cfg: cfg}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.cl == nil {
		cl, err := kgo.NewClient(cfg.kgoOpts()...)
		if err != nil {
			return nil, fmt.Errorf("new producer: %w", err)
		}
		p.cl, p.owns = cl, true
	}
	if err := checkDurable(p.cl); err != nil {
		if p.owns {
			p.cl.Close()
		}
		return nil, fmt.Errorf("new producer: %w", err)
	}
	p.pending.New = func() any {
		pd := &pending{p: p}
		pd.fn = pd.promise
		return pd
	}
	p.waiters.New = func() any {
		w := &waiter{ch: make(chan result, 1)}
		w.fn = w.done
		return w
	}
	return p, nil
}

// ClusterOpts are the kgo options that reach the Producer's cluster: seed
// brokers, dialer, TLS and SASL, without the Producer's tuning. They are
// for a client of another kind on the same cluster (an admin, a
// consumer), so that a caller need not keep its own copy of the
// connection settings. Nil for a WithClient client without seed brokers.
func (p *Producer) ClusterOpts() []kgo.Opt { return clusterOpts(&p.cfg, p.cl) }

// MissingTopics asks the cluster, through the Producer's own connection,
// for the metadata of topics and returns those that do not exist: a
// readiness check that the Producer reaches Kafka and can write where it
// will be asked to. It never creates topics.
func (p *Producer) MissingTopics(ctx context.Context, topics ...string) ([]string, error) {
	tds, err := kadm.NewClient(p.cl).ListTopics(ctx, topics...)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, t := range topics {
		if td, ok := tds[t]; !ok || td.Err != nil {
			missing = append(missing, t)
		}
	}
	return missing, nil
}

// Buffered returns the records, and their bytes, handed to Kafka and not
// yet acknowledged.
func (p *Producer) Buffered() (records, bytes int64) {
	return p.cl.BufferedProduceRecords(), p.cl.BufferedProduceBytes()
}

// Topics returns the topic names the Producer writes to.
func (p *Producer) Topics() Topics { return p.topics }

// Produce validates r, writes it to its kind's topic and returns once Kafka
// acknowledged it. An invalid record is refused with an error wrapping
// schemas.ErrInvalid and nothing is written.
//
// ctx bounds the wait for buffer space and for the ack. If ctx ends after
// the record was buffered, Produce returns ctx's error and the record may
// still be written; the record itself is not cancelled, so that one
// caller's cancellation never fails other callers' records sharing its
// batch.
func (p *Producer) Produce(ctx context.Context, r schemas.Record) (Ack, error) {
	w := p.waiters.Get().(*waiter)
	p.ProduceAsync(ctx, r, w.fn)
	select {
	case res := <-w.ch:
		p.waiters.Put(w)
		return res.ack, res.err
	case <-ctx.Done():
		select {
		case res := <-w.ch: // the result won the race; report it
			p.waiters.Put(w)
			return res.ack, res.err
		default:
		}
		// w stays with the pending promise; it is not reused.
		return Ack{}, fmt.Errorf("produce: waiting for ack: %w", ctx.Err())
	}
}

// ProduceAsync validates and encodes r, then buffers it for writing and
// returns; done is called once with the Ack or the error. Validation and
// encoding errors are delivered to done before ProduceAsync returns, and
// nothing is written. ctx bounds only the wait for buffer space (see
// Produce). done runs on the client's promise goroutine, serially with
// other completions: it must be quick and must not block or produce
// synchronously. done may be nil.
func (p *Producer) ProduceAsync(ctx context.Context, r schemas.Record, done func(Ack, error)) {
	if p.closed.Load() {
		finish(done, Ack{}, ErrProducerClosed)
		return
	}
	if r == nil {
		finish(done, Ack{}, fmt.Errorf("produce: %w: nil record", schemas.ErrInvalid))
		return
	}
	kind := r.Kind()
	topic := p.topics.Route(r)
	if topic == "" {
		finish(done, Ack{}, fmt.Errorf("produce %s: %w", kind, ErrNoTopic))
		return
	}

	// AppendJSON validates first (nil pointers included), so r.Key is
	// only read from a valid record. The buffer holds the value, then
	// the key; both slices are cut after the last append.
	pd := p.pending.Get().(*pending)
	buf, err := schemas.AppendJSON(pd.buf[:0], r)
	pd.buf = buf
	if err != nil {
		pd.release()
		finish(done, Ack{}, fmt.Errorf("produce %s: %w", kind, err))
		return
	}
	vlen := len(buf)
	buf = append(buf, r.Key()...)
	pd.buf = buf
	pd.done = done
	pd.hdr[0] = kgo.RecordHeader{Key: HeaderKind, Value: kindHeader(kind)}
	pd.rec = kgo.Record{
		Topic:   topic,
		Key:     buf[vlen:],
		Value:   buf[:vlen:vlen],
		Headers: pd.hdr[:],
	}
	pd.produce(ctx)
}

// ProduceRaw writes pre-encoded bytes to topic without validation, for
// tools, redrive and benchmarks. key and value must not be modified until
// done runs. done follows ProduceAsync's rules and may be nil.
func (p *Producer) ProduceRaw(ctx context.Context, topic string, key, value []byte, done func(Ack, error)) {
	if p.closed.Load() {
		finish(done, Ack{}, ErrProducerClosed)
		return
	}
	pd := p.pending.Get().(*pending)
	pd.done = done
	pd.rec = kgo.Record{Topic: topic, Key: key, Value: value}
	pd.produce(ctx)
}

// Flush waits until every record buffered so far is acked or failed, or
// until ctx ends. With a shared client (WithClient) it waits for all of
// that client's records.
func (p *Producer) Flush(ctx context.Context) error {
	if err := p.cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush producer: %w", err)
	}
	return nil
}

// Close stops the Producer: later produces fail with ErrProducerClosed,
// buffered records are flushed (for at most 30s; call Flush first to choose
// the bound), and the client is closed unless it was shared with
// WithClient. Records still buffered when the client closes are failed,
// never dropped silently. Close is idempotent.
func (p *Producer) Close() {
	p.once.Do(func() {
		p.closed.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), closeFlushTimeout)
		defer cancel()
		if err := p.Flush(ctx); err != nil {
			p.log.Warn("producer close: records still buffered", slog.Any("err", err))
		}
		if ctl := p.ctl.Load(); ctl != nil {
			ctl.Close()
		}
		if p.owns {
			p.cl.Close()
		}
	})
}

// pending is one in-flight record with its encode buffer, reused through
// the Producer's pool once the client is done with the record (the client
// does not touch a record after its promise returns).
type pending struct {
	p    *Producer
	rec  kgo.Record
	hdr  [1]kgo.RecordHeader
	buf  []byte
	ctx  bufferCtx
	done func(Ack, error)
	fn   func(*kgo.Record, error) // pd.promise, bound once
	slot uint64                   // in-flight counter the record is counted in
}

// produce hands the record to the client. The caller's ctx is armed only
// while the client may block for buffer space: kgo fails a whole buffered
// batch when its first record's context ends, and one caller giving up
// must not fail other callers' records.
func (pd *pending) produce(ctx context.Context) {
	// Count the record in the slot of an epoch that is still current
	// after the count: a switch that bumped the epoch in between may have
	// seen the old slot empty already, and two switches later the stale
	// slot is another switch's old one, which it would not wait for.
	for {
		e := pd.p.epoch.Load()
		pd.slot = e & 1
		pd.p.inflight[pd.slot].Add(1)
		if pd.p.epoch.Load() == e {
			break
		}
		pd.p.inflight[pd.slot].Add(-1)
	}
	pd.ctx.arm(ctx)
	pd.rec.Context = &pd.ctx
	pd.p.cl.Produce(&pd.ctx, &pd.rec, pd.fn)
	pd.ctx.disarm()
}

func (pd *pending) promise(r *kgo.Record, err error) {
	pd.p.inflight[pd.slot].Add(-1)
	done := pd.done
	ack := Ack{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
	if err != nil {
		err = fmt.Errorf("produce to %s: %w", r.Topic, err)
	}
	pd.release()
	finish(done, ack, err)
}

func (pd *pending) release() {
	pd.rec = kgo.Record{}
	pd.ctx.reset()
	pd.done = nil
	if cap(pd.buf) > maxPooledBuf {
		pd.buf = nil
	}
	pd.p.pending.Put(pd)
}

// waiter turns a completion into a channel receive for Produce.
type waiter struct {
	ch chan result
	fn func(Ack, error) // w.done, bound once
}

type result struct {
	ack Ack
	err error
}

func (w *waiter) done(a Ack, err error) { w.ch <- result{a, err} }

func finish(done func(Ack, error), a Ack, err error) {
	if done != nil {
		done(a, err)
	}
}

// kindHeaders holds the surge-kind header values, shared read-only by all
// records.
var kindHeaders = map[schemas.Kind][]byte{
	schemas.KindOrder:       []byte(schemas.KindOrder),
	schemas.KindOrderStatus: []byte(schemas.KindOrderStatus),
	schemas.KindUserEvent:   []byte(schemas.KindUserEvent),
	schemas.KindCoupon:      []byte(schemas.KindCoupon),
}

func kindHeader(k schemas.Kind) []byte {
	if v, ok := kindHeaders[k]; ok {
		return v
	}
	return []byte(k)
}
