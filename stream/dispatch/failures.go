package dispatch

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
)

// onFailure handles a failed handler call: dead-letter (permanent, or the
// retry budget spent), park in the retry topic (a source record), or wait
// for the next attempt in memory (a retry record).
func (e *engine) onFailure(t *task, err error) {
	p := t.part
	now := e.cfg.now()
	e.m.failed.Inc()
	x := t.extra()
	x.attempts++
	x.lastErr = err.Error()
	x.lastFailure = now
	if x.firstFailure.IsZero() {
		x.firstFailure = now
	}
	topic, partition, offset := t.source()
	log := e.log.With("event_id", schemas.EventID(t.kr.Value), "key", t.key(), "topic", topic,
		"partition", partition, "offset", offset, "attempt", x.attempts, "err", err)
	if errors.Is(err, ErrPermanent) {
		log.Warn("permanent failure; dead-lettering")
		e.deadLetter(t)
		return
	}
	if x.attempts >= e.cfg.maxAttempts || now.Sub(x.firstFailure) >= e.cfg.maxAge {
		log.Warn("retry budget spent; dead-lettering")
		e.deadLetter(t)
		return
	}
	t.due = now.Add(e.backoff(x.attempts))
	e.m.retried.Inc()
	if !p.retry {
		log.Info("handler failed; parking in the retry topic", "due", t.due)
		e.park(t)
		return
	}
	log.Info("handler failed; retrying", "due", t.due)
	p.retrying[t] = struct{}{}
	e.wait(t)
}

// source is the record's coordinates on its source topic.
func (t *task) source() (string, int32, int64) {
	if t.x != nil && t.x.hasSrc {
		return t.x.srcTopic, t.x.srcPartition, t.x.srcOffset
	}
	return t.kr.Topic, t.kr.Partition, t.kr.Offset
}

// backoff is base*2^(attempt-1) capped at max, with jitter in [d/2, d].
func (e *engine) backoff(attempt int) time.Duration {
	d := e.cfg.backoffBase
	for i := 1; i < attempt && d < e.cfg.backoffMax; i++ {
		d *= 2
	}
	d = min(d, e.cfg.backoffMax)
	return d/2 + rand.N(d/2+1)
}

// park writes source task t to the retry partition; its key is parked
// from now on, so that its later records follow it there.
func (e *engine) park(t *task) {
	r := t.part.peer
	r.unread[t.key()]++
	if t.attempts() == 0 {
		e.m.parkedBehind.Inc()
	}
	e.startWrite(t, retryRecord(r.topic, e.cfg.group, t.record(), t.x, t.due), false)
}

// deadLetter writes t to the dead-letter topic; its key proceeds after.
func (e *engine) deadLetter(t *task) {
	x := t.extra()
	rec := t.record()
	dl := stream.DeadLetter{
		Reason:          x.lastErr,
		SourceTopic:     rec.Topic,
		SourcePartition: rec.Partition,
		SourceOffset:    rec.Offset,
		Group:           e.cfg.group,
		Attempts:        x.attempts,
		FirstFailure:    x.firstFailure,
		LastFailure:     x.lastFailure,
		Key:             t.kr.Key,
		Value:           rec.Value,
		Headers:         rec.Headers,
	}
	e.startWrite(t, stream.NewDeadLetterRecord(e.cfg.deadLetters, dl), true)
}

// startWrite produces rec on a goroutine, retrying until it is acked or
// the dispatcher is closed, and reports back to the engine.
func (e *engine) startWrite(t *task, rec *kgo.Record, dead bool) {
	t.state = stWriting
	t.part.inflight++
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		// A paused instance writes no retry or dead letter for a
		// partition it lost: its new owner redelivers the record.
		if !e.fence.wait(t.part.ctx) {
			return
		}
		wait := 100 * time.Millisecond
		for {
			err := e.write(e.hctx, rec)
			if err == nil {
				break
			}
			if e.hctx.Err() != nil {
				return // closing: the record stays pending, its offset uncommitted
			}
			e.log.Warn("write failed; retrying", "topic", rec.Topic, "err", err)
			select {
			case <-time.After(wait):
			case <-e.hctx.Done():
				return
			}
			wait = min(2*wait, 5*time.Second)
		}
		select {
		case e.writes <- writeDone{t, dead}:
		case <-e.done:
		}
	}()
}

func (e *engine) onWritten(w writeDone) {
	t, p := w.t, w.t.part
	p.inflight--
	if p.dropped {
		return
	}
	if w.dead {
		e.m.deadLettered.Inc()
		topic, partition, offset := t.source()
		e.log.Warn("dead-lettered", "event_id", schemas.EventID(t.kr.Value), "key", t.key(), "topic", topic,
			"partition", partition, "offset", offset, "attempts", t.attempts(), "reason", t.x.lastErr)
	}
	e.complete(t)
}
