package dispatch

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/stream"
)

// onFetch takes a poll's records into their partitions. The tasks of a
// partition's records are allocated together.
func (e *engine) onFetch(b fetchBatch) {
	b.fs.EachPartition(func(fp kgo.FetchTopicPartition) {
		p := e.parts[tp{fp.Topic, fp.Partition}]
		if p == nil || p.dropped || p.revoking || p.retry != b.retry {
			return // not ours (any more); the owner reads it
		}
		p.hwm = fp.HighWatermark
		var slab []task
		for _, r := range fp.Records {
			if r.Offset < p.seen {
				continue // already seen, or below the offset committed when assigned
			}
			p.seen = r.Offset + 1
			p.lane.buffered++
			if p.loading && !p.retry {
				p.held = append(p.held, r)
				continue
			}
			if len(slab) == 0 {
				slab = make([]task, min(len(fp.Records), 4096))
			}
			t := &slab[0]
			slab = slab[1:]
			if p.retry {
				e.takeRetry(p, r, t)
			} else {
				e.takeSource(p, r, t)
			}
		}
		if p.retry && p.loading && p.seen >= p.loadEnd {
			e.loaded(p)
		}
	})
}

// takeSource starts tracking a source record: it is skipped if the
// previous owner's commit recorded it as done, or if the retry partition
// showed it parked (or done) by a previous owner; else queued behind its
// key.
func (e *engine) takeSource(p *part, r *kgo.Record, t *task) {
	p.win.add(r.Offset)
	skip := len(p.prior) > 0 && p.priorDone(r.Offset)
	if !skip && len(p.peer.maxParked) > 0 {
		mp, ok := p.peer.maxParked[string(r.Key)]
		skip = ok && r.Offset <= mp
	}
	if skip {
		e.m.skipped.Inc()
		p.win.done(r.Offset)
		p.lane.buffered--
		return
	}
	t.kr, t.kh, t.part, t.heapIdx = r, e.keyHash(r.Key), p, -1
	if hasDispatchHeaders(r) {
		meta, err := parseHeaders(r)
		x := t.extra()
		x.headers, x.notBefore, t.due = meta.ownHeaders, meta.notBefore, meta.notBefore
		if err != nil {
			x.headers, x.lastErr, x.malformed = r.Headers, "malformed header: "+err.Error(), true
		}
	}
	e.enqueue(t)
}

// takeRetry takes one record of a retry partition.
func (e *engine) takeRetry(p *part, r *kgo.Record, t *task) {
	p.win.add(r.Offset)
	key := string(r.Key)
	if n := p.unread[key]; n > 1 {
		p.unread[key] = n - 1
	} else if n == 1 {
		delete(p.unread, key)
	}
	meta, err := parseHeaders(r)
	src := meta.source
	if !meta.hasRetryMeta {
		src.SourceTopic, src.SourcePartition, src.SourceOffset = r.Topic, r.Partition, r.Offset
	}
	if p.loading && r.Offset < p.loadEnd && src.SourceTopic == p.peer.topic && src.SourcePartition == p.peer.partition {
		if mp, ok := p.maxParked[key]; !ok || src.SourceOffset > mp {
			p.maxParked[key] = src.SourceOffset
		}
	}
	if len(p.prior) > 0 && p.priorDone(r.Offset) {
		e.m.skipped.Inc()
		p.win.done(r.Offset)
		p.lane.buffered--
		return
	}
	t.kr, t.kh, t.part, t.heapIdx = r, e.keyHash(r.Key), p, -1
	t.x = &taskExtra{
		srcTopic: src.SourceTopic, srcPartition: src.SourcePartition, srcOffset: src.SourceOffset, hasSrc: true,
		headers: meta.ownHeaders, notBefore: meta.notBefore, attempts: src.Attempts,
		firstFailure: src.FirstFailure, lastFailure: src.LastFailure, lastErr: src.Reason,
	}
	if n, ok := p.priorTries[r.Offset]; ok {
		// The previous owner retried it in memory: resume its count.
		delete(p.priorTries, r.Offset)
		if n > t.x.attempts {
			t.x.attempts = n
			p.retrying[t] = struct{}{}
		}
	}
	t.due = meta.due
	if meta.notBefore.After(t.due) {
		t.due = meta.notBefore
	}
	if err != nil {
		t.x.headers, t.x.lastErr, t.x.malformed = r.Headers, "malformed header: "+err.Error(), true
	}
	e.enqueue(t)
}

// loaded ends the loading of retry partition p: its source partition's
// held records are taken in.
func (e *engine) loaded(p *part) {
	p.loading = false
	s := p.peer
	if s == nil || !s.loading {
		return
	}
	s.loading = false
	held := s.held
	s.held = nil
	slab := make([]task, len(held))
	for i, r := range held {
		e.takeSource(s, r, &slab[i])
	}
	e.log.Debug("partition ready", "topic", s.topic, "partition", s.partition, "parked_keys", len(p.maxParked))
}

// hasDispatchHeaders reports whether r carries headers the dispatcher
// reads (all "surge-" headers but surge-kind), so that the others skip
// parsing.
func hasDispatchHeaders(r *kgo.Record) bool {
	for _, h := range r.Headers {
		if strings.HasPrefix(h.Key, "surge-") && h.Key != stream.HeaderKind {
			return true
		}
	}
	return false
}
