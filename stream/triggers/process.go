package triggers

import (
	"log/slog"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/triggers/rules"
)

// partOut is what one partition produced in the open transaction. Its
// records, keys and values are reused from transaction to transaction
// once the transaction has ended (the producer holds them until then).
type partOut struct {
	work    []kgo.FetchTopicPartition // this poll's input
	dec     eventDecoder
	st      Stats         // this poll's counts
	issues  []rules.Issue // this poll's coupons
	pending []*kgo.Record // this poll's output, produced by the loop
	recs    []kgo.Record  // slab of the transaction's records
	n       int           // records of recs in use
	values  arena         // the transaction's coupon and state values
}

// record returns a cleared record of the slab. The slab grows by new
// chunks: records handed out earlier stay where they are.
func (o *partOut) record() *kgo.Record {
	if o.n == len(o.recs) {
		o.recs = make([]kgo.Record, max(64, 2*len(o.recs)))
		o.n = 0
	}
	rec := &o.recs[o.n]
	o.n++
	*rec = kgo.Record{}
	return rec
}

// writeCoupons adds a record to pending for each of this poll's issues. An
// issue whose coupon does not encode (schemas refuses it, e.g. an id over
// schemas.MaxIDBytes) is logged, counted in CouponErrors and dropped from
// issues: it is never written, nor counted as issued.
func (o *partOut) writeCoupons(topic string, logger *slog.Logger) {
	kept := o.issues[:0]
	for _, is := range o.issues {
		c := o.values.tail(1024)
		off := len(c)
		c, err := schemas.AppendJSON(c, is.Coupon())
		if err != nil {
			o.st.CouponErrors++
			logger.Error("coupon not written: it does not encode", "rule", is.Rule, "campaign", is.Campaign,
				"user", is.User, "trigger", is.Trigger, "err", err)
			continue
		}
		rec := o.record()
		rec.Topic, rec.Key, rec.Headers = topic, bytesOf(is.User), couponHeaders
		rec.Value = o.values.done(c, off)
		o.pending = append(o.pending, rec)
		kept = append(kept, is)
	}
	o.issues = kept
}

// reset makes the buffers reusable: the transaction has ended.
func (o *partOut) reset() {
	o.n = 0
	o.values.reset()
}

// arena holds record values in chunks that are never moved: a transaction
// of any size costs no copying, and the chunks are reused by the next.
type arena struct {
	chunks [][]byte
	i      int // the chunk in use
}

const (
	arenaChunk = 256 << 10
	arenaKeep  = 32 // chunks kept for reuse
)

// tail returns the chunk to append to, with at least room bytes free.
func (a *arena) tail(room int) []byte {
	for ; a.i < len(a.chunks); a.i++ {
		if c := a.chunks[a.i]; cap(c)-len(c) >= room {
			return c
		}
	}
	a.chunks = append(a.chunks, make([]byte, 0, max(room, arenaChunk)))
	return a.chunks[a.i]
}

// done stores the chunk tail returned, extended by the caller from off,
// and returns the bytes appended. (An append that outgrew the chunk moved
// it; what was handed out before stays valid where it is.)
func (a *arena) done(c []byte, off int) []byte {
	a.chunks[a.i] = c
	return c[off:len(c):len(c)]
}

func (a *arena) reset() {
	if len(a.chunks) > arenaKeep {
		clear(a.chunks[arenaKeep:])
		a.chunks = a.chunks[:arenaKeep]
	}
	for i := range a.chunks {
		a.chunks[i] = a.chunks[i][:0]
	}
	a.i = 0
}

var couponHeaders = []kgo.RecordHeader{{Key: stream.HeaderKind, Value: []byte(schemas.KindCoupon)}}

// bytesOf is s's bytes without a copy, for record keys: the producer never
// writes into a key, and the strings are immutable.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// processParts runs the poll's records through the engines, then their
// timers, and when closing collects the state changes. Partitions are
// independent: with enough records they are processed in parallel, one
// goroutine per core. The caller holds r.mu.
func (r *Runner) processParts(fetches kgo.Fetches, now time.Time, closing bool) {
	n := 0
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if pt := r.parts[fp.Partition]; pt != nil && len(fp.Records) > 0 {
			pt.out.work = append(pt.out.work, fp)
			n += len(fp.Records)
		}
	})
	workers := min(runtime.GOMAXPROCS(0), len(r.parts), 4)
	if n < 1024 || workers < 2 {
		for id, pt := range r.parts {
			r.processPart(id, pt, now, closing)
		}
		return
	}
	ids := make([]int32, 0, len(r.parts))
	for id := range r.parts {
		ids = append(ids, id)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(ids); i += workers {
				r.processPart(ids[i], r.parts[ids[i]], now, closing)
			}
		})
	}
	wg.Wait()
}

// processPart processes one partition's share of the poll.
func (r *Runner) processPart(id int32, pt *part, now time.Time, closing bool) {
	o := &pt.out
	nowMs := now.UnixMilli()
	o.dec.setNow(nowMs)
	o.st, o.issues, o.pending = Stats{}, o.issues[:0], o.pending[:0]
	for _, fp := range o.work {
		ch, ok := r.channel(fp.Topic)
		if !ok {
			continue
		}
		for _, rec := range fp.Records {
			pt.seen[ch], pt.pos[ch] = nowMs, rec.Offset+1
			if rec.Attrs.IsControl() {
				continue
			}
			o.st.Records++
			var ev rules.Event
			ok, err := o.dec.decode(rec.Value, &ev)
			if err != nil {
				o.st.Invalid++
				continue
			}
			if !ok {
				continue
			}
			o.st.Events++
			r.keys.check(rec, ev.User)
			var late bool
			dups := pt.Stats.Duplicates
			o.issues, late = pt.Process(&ev, ch, o.issues)
			if pt.Stats.Duplicates != dups {
				o.st.Duplicates++
			}
			if late {
				o.st.Late++
				r.cfg.logger.Debug("late event", "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset)
				if r.cfg.topics.DeadLetters != "" {
					o.pending = append(o.pending, r.lateRecord(rec, &ev, ch, pt.Partition, now))
				}
			}
		}
	}
	clear(o.work)
	o.work = o.work[:0]
	o.issues = pt.Tick(nowMs, o.issues)
	o.writeCoupons(r.cfg.topics.Coupons, r.cfg.logger)
	if closing {
		pt.Changes(func(key string, value rules.Value) {
			rec := o.record()
			rec.Topic, rec.Partition, rec.Key = r.changelog, id, bytesOf(key)
			if value != nil {
				c := o.values.tail(256)
				off := len(c)
				rec.Value = o.values.done(value.AppendTo(c), off)
			}
			o.pending = append(o.pending, rec)
			o.st.StateRecords++
		})
	}
}
