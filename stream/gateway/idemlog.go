package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
)

// idemQueue bounds the results waiting to be written to the idempotency
// topic; when it is full, results stay in memory only (and are counted).
const idemQueue = 1 << 16

// idemValue is the value of an idempotency topic record. The key is the
// API key's name, "|", and the idempotency key ("h:" header, "o:" order
// id, "e:" event id).
type idemValue struct {
	V       int       `json:"v"`
	Hash    string    `json:"h"` // hex of the body hash
	Created int64     `json:"t"` // unix ms of the first request
	Acks    []idemAck `json:"a"`
}

// idemAck is one accepted item of the request.
type idemAck struct {
	Index     int    `json:"i"`
	Kind      string `json:"k"`
	EventID   string `json:"e"`
	Topic     string `json:"t"`
	Partition int32  `json:"p"`
	Offset    int64  `json:"o"`
}

// idemGather is how long the idempotency writer lets results gather
// before it writes them, so that they reach Kafka in a few large batches
// rather than one small batch per request, which would cost the
// producer and the broker about as much as the orders themselves.
const idemGather = 2 * time.Millisecond

// idemKeepBatch is the largest queue array the writer keeps for reuse.
const idemKeepBatch = 4096

// idemLog writes results to the compacted idempotency topic from one
// goroutine, and reads them back on start.
type idemLog struct {
	topic     string
	p         *stream.Producer
	log       *slog.Logger
	mu        sync.Mutex
	closed    bool
	queue     []idemResult  // results waiting to be written, oldest first
	wake      chan struct{} // one buffered wake-up for the writer
	done      chan struct{}
	onWritten func(stream.Ack, error) // l.written, bound once
	written   atomic.Int64
	failed    atomic.Int64
	dropped   atomic.Int64
}

// idemResult is one result waiting to be written: a key's acks as they
// stand after a request.
type idemResult struct {
	key     string
	hash    bodyHash
	created int64
	acks    []savedAck // never modified once queued
}

func newIdemLog(topic string, p *stream.Producer, log *slog.Logger) *idemLog {
	l := &idemLog{topic: topic, p: p, log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
	l.onWritten = l.wrote
	go l.run() // ended by close
	return l
}

// enqueue schedules the result of c's key, acks, for writing. It never
// blocks: it runs on the producer's callback goroutine.
func (l *idemLog) enqueue(c *claim, acks []savedAck) {
	l.mu.Lock()
	if l.closed || len(l.queue) >= idemQueue {
		l.mu.Unlock()
		l.dropped.Add(1)
		return
	}
	l.queue = append(l.queue, idemResult{key: c.key, hash: c.hash, created: c.created, acks: acks})
	first := len(l.queue) == 1
	l.mu.Unlock()
	if first {
		select {
		case l.wake <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
}

// run writes queued results until close: each wake-up, it waits
// idemGather for more results, then hands all of them to the producer.
func (l *idemLog) run() {
	defer close(l.done)
	var batch []idemResult
	for range l.wake {
		time.Sleep(idemGather)
		for {
			l.mu.Lock()
			batch, l.queue = l.queue, batch[:0]
			closed := l.closed
			l.mu.Unlock()
			if len(batch) == 0 {
				if closed {
					return
				}
				break
			}
			for i := range batch {
				l.write(&batch[i])
			}
			clear(batch) // let the written results go
			if cap(batch) > idemKeepBatch {
				batch = nil // after a backlog, do not keep its array
			}
		}
	}
}

// write hands one result to the producer: key and value share one buffer,
// which the producer owns from then on.
func (l *idemLog) write(r *idemResult) {
	buf := make([]byte, 0, len(r.key)+64+len(r.acks)*96)
	buf = append(buf, r.key...)
	k := len(buf)
	buf = appendIdemValue(buf, r.hash, r.created, r.acks)
	l.p.ProduceRaw(context.Background(), l.topic, buf[:k:k], buf[k:], l.onWritten)
}

func (l *idemLog) wrote(_ stream.Ack, err error) {
	if err != nil {
		l.failed.Add(1)
		l.log.Warn("write idempotency record", slog.String("topic", l.topic), slog.Any("err", err))
		return
	}
	l.written.Add(1)
}

// appendIdemValue appends the JSON of an idemValue: what json.Marshal
// writes for it, without building one.
func appendIdemValue(b []byte, h bodyHash, created int64, acks []savedAck) []byte {
	b = append(b, `{"v":1,"h":"`...)
	b = hex.AppendEncode(b, h[:])
	b = append(b, `","t":`...)
	b = strconv.AppendInt(b, created, 10)
	b = append(b, `,"a":[`...)
	n := 0
	for i := range acks {
		a := &acks[i]
		if !a.ok {
			continue
		}
		if n++; n > 1 {
			b = append(b, ',')
		}
		b = append(b, `{"i":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"k":`...)
		b = appendString(b, string(a.kind))
		b = append(b, `,"e":`...)
		b = appendString(b, a.eventID)
		b = append(b, `,"t":`...)
		b = appendString(b, a.ack.Topic)
		b = append(b, `,"p":`...)
		b = strconv.AppendInt(b, int64(a.ack.Partition), 10)
		b = append(b, `,"o":`...)
		b = strconv.AppendInt(b, a.ack.Offset, 10)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// close stops taking results and returns once every queued one was handed
// to the producer (flushing the producer then writes them).
func (l *idemLog) close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	l.mu.Unlock()
	<-l.done
}

// ensureIdemTopic creates the idempotency topic when it is missing:
// cleanup.policy compact,delete, so that the latest result per key is kept
// and results older than the window go.
func ensureIdemTopic(ctx context.Context, cl *kgo.Client, c *config) error {
	adm := kadm.NewClient(cl)
	tds, err := adm.ListTopics(ctx, c.idemTopic)
	if err != nil {
		return fmt.Errorf("look up idempotency topic %s: %w", c.idemTopic, err)
	}
	if td, ok := tds[c.idemTopic]; ok && td.Err == nil {
		return nil
	}
	if !c.createIdemTopic {
		return fmt.Errorf("idempotency topic %s does not exist", c.idemTopic)
	}
	retention := strconv.FormatInt((c.idemWindow + time.Hour).Milliseconds(), 10)
	_, err = adm.CreateTopic(ctx, c.idemPartitions, c.idemReplicas, map[string]*string{
		"cleanup.policy": kadm.StringPtr("compact,delete"),
		"retention.ms":   kadm.StringPtr(retention),
	}, c.idemTopic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create idempotency topic %s: %w", c.idemTopic, err)
	}
	return nil
}

// loadIdempotency reads the idempotency topic from the start of the
// window to its end as of now into w, and returns how many results it
// read.
func loadIdempotency(ctx context.Context, cl *kgo.Client, c *config, w *window) (int, error) {
	adm := kadm.NewClient(cl)
	since := c.now().Add(-c.idemWindow).UnixMilli()
	starts, err := adm.ListOffsetsAfterMilli(ctx, since, c.idemTopic)
	if err != nil {
		return 0, fmt.Errorf("list offsets of %s: %w", c.idemTopic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, c.idemTopic)
	if err != nil {
		return 0, fmt.Errorf("list end offsets of %s: %w", c.idemTopic, err)
	}
	from := map[int32]kgo.Offset{}
	left := map[int32]int64{} // partition -> end offset still to reach
	var lerr error
	ends.Each(func(e kadm.ListedOffset) {
		if e.Err != nil {
			lerr = fmt.Errorf("end offset of %s[%d]: %w", e.Topic, e.Partition, e.Err)
			return
		}
		start := int64(0)
		if s, ok := starts.Lookup(e.Topic, e.Partition); ok && s.Err == nil && s.Offset >= 0 {
			start = s.Offset
		}
		if start < e.Offset {
			from[e.Partition] = kgo.NewOffset().At(start)
			left[e.Partition] = e.Offset
		}
	})
	if lerr != nil {
		return 0, lerr
	}
	if len(from) == 0 {
		return 0, nil
	}
	opts := append(slices.Clone(cl.Opts()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{c.idemTopic: from}),
		kgo.FetchIsolationLevel(kgo.ReadUncommitted()))
	cons, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, fmt.Errorf("consumer for %s: %w", c.idemTopic, err)
	}
	defer cons.Close()
	n := 0
	for len(left) > 0 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("read %s: %w", c.idemTopic, err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("fetch %s[%d]: %w", t, p, err) })
		if ferr != nil {
			return n, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
			if applyIdemRecord(w, r) {
				n++
			}
		})
	}
	return n, nil
}

// applyIdemRecord puts one idempotency record into w; malformed records
// (written by something else) are skipped.
func applyIdemRecord(w *window, r *kgo.Record) bool {
	var v idemValue
	if r.Value == nil || json.Unmarshal(r.Value, &v) != nil || v.V != 1 {
		return false
	}
	hb, err := hex.DecodeString(v.Hash)
	if err != nil || len(hb) != len(bodyHash{}) {
		return false
	}
	var h bodyHash
	copy(h[:], hb)
	key := string(r.Key)
	if !strings.Contains(key, "|") {
		return false
	}
	n := 0
	for _, a := range v.Acks {
		if a.Index < 0 || a.Index >= DefaultMaxBatchItems*100 {
			return false
		}
		n = max(n, a.Index+1)
	}
	acks := make([]savedAck, n)
	for _, a := range v.Acks {
		acks[a.Index] = savedAck{ok: true, kind: schemas.Kind(a.Kind), eventID: a.EventID,
			ack: stream.Ack{Topic: a.Topic, Partition: a.Partition, Offset: a.Offset}}
	}
	w.load(key, h, v.Created, acks)
	return true
}
