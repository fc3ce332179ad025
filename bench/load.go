package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/loadgen"
)

// benchSeed fixes the generated records, so that surge and the baselines
// handle the same users, sessions, SKUs and amounts.
const benchSeed = 20241129

// encodedLoad is a load generator run encoded ahead of time: every record's
// key and JSON value, back to back in one buffer.
type encodedLoad struct {
	buf    []byte
	recs   []encodedRec
	byKind map[schemas.Kind]int64
	bytes  map[schemas.Kind]int64 // value bytes by kind
}

type encodedRec struct {
	kind          schemas.Kind
	start, keyEnd int // key is buf[start:keyEnd]
	valEnd        int // value is buf[keyEnd:valEnd]
}

// encodeLoad generates n records with the bench seed and encodes them the
// way stream.Producer does (key = user id, value = schemas JSON).
func encodeLoad(ctx context.Context, n int) (*encodedLoad, error) {
	l := &encodedLoad{
		buf:    make([]byte, 0, n*240),
		recs:   make([]encodedRec, 0, n),
		byKind: map[schemas.Kind]int64{},
		bytes:  map[schemas.Kind]int64{},
	}
	var encErr error
	g, err := loadgen.New(loadgen.Config{MaxRecords: int64(n), Seed: benchSeed},
		func(_ context.Context, r schemas.Record, done func(error)) {
			start := len(l.buf)
			l.buf = append(l.buf, r.Key()...)
			keyEnd := len(l.buf)
			var err error
			if l.buf, err = schemas.AppendJSON(l.buf, r); err != nil {
				encErr = err
				l.buf = l.buf[:start]
				done(err)
				return
			}
			k := r.Kind()
			l.recs = append(l.recs, encodedRec{kind: k, start: start, keyEnd: keyEnd, valEnd: len(l.buf)})
			l.byKind[k]++
			l.bytes[k] += int64(len(l.buf) - keyEnd)
			done(nil)
		})
	if err != nil {
		return nil, err
	}
	if _, err := g.Run(ctx); err != nil {
		return nil, fmt.Errorf("generate records: %w", err)
	}
	if encErr != nil {
		return nil, fmt.Errorf("encode generated record: %w", encErr)
	}
	return l, nil
}

// prefix is l's first n records.
func (l *encodedLoad) prefix(n int) *encodedLoad {
	c := *l
	c.recs = l.recs[:n]
	return &c
}

func (l *encodedLoad) key(i int) []byte {
	r := &l.recs[i]
	return l.buf[r.start:r.keyEnd:r.keyEnd]
}

func (l *encodedLoad) value(i int) []byte {
	r := &l.recs[i]
	return l.buf[r.keyEnd:r.valEnd:r.valEnd]
}

// avgBytes is the mean value size of records of kind k.
func (l *encodedLoad) avgBytes(k schemas.Kind) float64 {
	if l.byKind[k] == 0 {
		return 0
	}
	return float64(l.bytes[k]) / float64(l.byKind[k])
}

// generate returns n records of the bench seed, built ahead of time.
func generate(ctx context.Context, n int) ([]schemas.Record, error) {
	recs := make([]schemas.Record, 0, n)
	g, err := loadgen.New(loadgen.Config{MaxRecords: int64(n), Seed: benchSeed},
		func(_ context.Context, r schemas.Record, done func(error)) {
			recs = append(recs, r)
			done(nil)
		})
	if err != nil {
		return nil, err
	}
	if _, err := g.Run(ctx); err != nil {
		return nil, fmt.Errorf("generate records: %w", err)
	}
	return recs, nil
}

// errCounter counts failed completions and keeps the first error.
type errCounter struct {
	failed atomic.Int64
	first  atomic.Pointer[error]
}

func (c *errCounter) done(_ stream.Ack, err error) { c.add(err) }

func (c *errCounter) add(err error) {
	if err != nil {
		c.failed.Add(1)
		c.first.CompareAndSwap(nil, &err)
	}
}

// err summarises the failures among total completions, or is nil.
func (c *errCounter) err(total int) error {
	if n := c.failed.Load(); n > 0 {
		return fmt.Errorf("%d of %d records failed, first: %w", n, total, *c.first.Load())
	}
	return nil
}

// rawClient is a plain franz-go producer configured like stream.Producer's
// own client: acks=all, idempotent (kgo's default), murmur2 sticky-key
// partitioning, lz4 batches and the same linger.
func rawClient(addrs []string, clientID string) (*kgo.Client, error) {
	return kgo.NewClient(
		kgo.SeedBrokers(addrs...),
		kgo.ClientID(clientID),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ProducerBatchCompression(kgo.Lz4Compression(), kgo.NoCompression()),
		kgo.ProducerLinger(stream.DefaultLinger),
	)
}

// produceRaw writes every record of l to its topic in t through cl, as a
// franz-go user would (one kgo.Record per record, Produce with a promise),
// waits for every ack and returns how long that took.
func produceRaw(ctx context.Context, cl *kgo.Client, t stream.Topics, l *encodedLoad) (time.Duration, error) {
	var errs errCounter
	promise := func(_ *kgo.Record, err error) { errs.add(err) }
	start := time.Now()
	for i := range l.recs {
		cl.Produce(ctx, &kgo.Record{
			Topic: t.For(l.recs[i].kind),
			Key:   l.key(i),
			Value: l.value(i),
		}, promise)
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, fmt.Errorf("flush: %w", err)
	}
	took := time.Since(start)
	if err := errs.err(len(l.recs)); err != nil {
		return 0, err
	}
	return took, nil
}

// produceRawJSON encodes each record with segmentio/encoding's json.Marshal
// and produces it through cl, routed as surge routes it, as an application
// using franz-go directly would; it waits for every ack and returns how
// long that took.
func produceRawJSON(ctx context.Context, cl *kgo.Client, t stream.Topics, recs []schemas.Record) (time.Duration, error) {
	var errs errCounter
	promise := func(_ *kgo.Record, err error) { errs.add(err) }
	start := time.Now()
	for _, r := range recs {
		v, err := json.Marshal(r)
		if err != nil {
			return 0, fmt.Errorf("encode %s: %w", r.Kind(), err)
		}
		cl.Produce(ctx, &kgo.Record{Topic: t.Route(r), Key: []byte(r.Key()), Value: v}, promise)
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, fmt.Errorf("flush: %w", err)
	}
	took := time.Since(start)
	if err := errs.err(len(recs)); err != nil {
		return 0, err
	}
	return took, nil
}
