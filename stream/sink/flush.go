package sink

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
)

// flush writes one job: dead letters first, then the ClickHouse rows, then the
// offset commit. It retries until the rows are written or ctx is done.
// decided is called once the job's dedup decisions are made.
func (s *Sink) flush(ctx context.Context, j *job, decided func()) {
	defer s.pending.Done()
	defer s.release(j)
	j.dropLost(s.isLost)
	if err := s.decide(ctx, j); err != nil {
		return // ctx done: nothing committed, the records are read again
	}
	decided()
	if err := s.produceDeadLetters(ctx, j); err != nil {
		return // ctx done: nothing committed, the records are read again
	}
	batch := s.batch
	backoff := newBackoff(s.cfg.retryMax)
	for attempt := 0; len(j.entries) > 0; attempt++ {
		s.seq++
		qid := fmt.Sprintf("%s%s:%d:", s.groupQueryPrefix(), s.instance, s.seq)
		fill(batch, j.entries)
		start := time.Now()
		// Every INSERT of the batch (marks included) is sent only once the
		// group coordinator has confirmed, just before, that this instance
		// still owns the job's partitions.
		starts := jobStarts(j)
		wctx := analytics.WithBeforeInsert(analytics.WithQueryIDPrefix(ctx, qid),
			func(ctx context.Context, _ analytics.Table) error { return s.confirmMember(ctx, j, starts) })
		err := s.write(wctx, batch, start.UTC().Truncate(time.Second))
		if errors.Is(err, errNotMember) {
			s.dropJob(j, err)
			return
		}
		var oc *ownerChangedError
		if errors.As(err, &oc) {
			// Drop what was read under the ended ownership (the partitions
			// are read again from the committed offsets by whoever owns them
			// now), then settle the rest like a failed write: some of its
			// tables may be written already.
			j.dropLost(func(k tp) bool { return oc.parts[k] })
			s.metrics.staleBatches.Inc()
			s.cfg.logger.Warn("partitions changed owner while their batch was in hand; dropping their records",
				"group", s.cfg.group, "partitions", len(oc.parts))
			if j.empty() {
				return
			}
			if err := s.recover(ctx, j, qid, backoff); err != nil {
				return
			}
			continue
		}
		if err == nil {
			s.recordWrite(j, time.Since(start))
			break
		}
		s.metrics.writeErrors.Inc()
		s.addStats(func(st *Stats) { st.Retries++ })
		s.cfg.logger.Warn("write batch to ClickHouse failed; will retry the rows it does not hold",
			"rows", len(j.entries), "attempt", attempt+1, "err", err)
		if ctx.Err() != nil {
			return
		}
		if err := s.recover(ctx, j, qid, backoff); err != nil {
			return
		}
		s.repairDue()
	}
	s.commit(ctx, j)
}

// write writes the batch between its write-ahead marks: intents first, then
// the tables, then the done marks. A failed done mark is not an error: the
// next reader settles the intent with one pruned probe.
func (s *Sink) write(ctx context.Context, batch *analytics.Batch, at time.Time) error {
	intents, dones, err := s.planMarks(batch, at)
	if err != nil {
		return err
	}
	if err := s.ch.WriteMarks(ctx, intents); err != nil {
		return fmt.Errorf("write intents: %w", err)
	}
	if err := s.ch.Write(ctx, batch, at); err != nil {
		return err
	}
	s.applyMarks(dones)
	if err := s.ch.WriteMarks(ctx, dones); err != nil {
		s.cfg.logger.Warn("write done marks failed; the next reader settles them from the raw tables", "err", err)
	}
	return nil
}

// recover waits until the failed INSERT is no longer running, then drops
// from the job every row ClickHouse already holds.
func (s *Sink) recover(ctx context.Context, j *job, qid string, backoff *backoff) error {
	for {
		backoff.wait(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := s.waitForInserts(ctx, qid); err != nil {
			s.cfg.logger.Warn("ClickHouse still unreachable", "err", err)
			continue
		}
		topics := make(map[string]bool)
		for _, e := range j.entries {
			topics[e.src.Topic] = true
		}
		held := make(map[string]map[analytics.Table]map[int32]analytics.Position)
		var err error
		for t := range topics {
			if held[t], err = s.ch.Positions(ctx, t); err != nil {
				break
			}
		}
		if err != nil {
			s.cfg.logger.Warn("read positions after failed write", "err", err)
			continue
		}
		var settled []analytics.Mark
		at := time.Now().UTC().Truncate(time.Second)
		for t, pos := range held {
			settled = append(settled, s.settle(t, pos, at)...)
		}
		if err := s.ch.WriteMarks(ctx, settled); err != nil {
			s.cfg.logger.Warn("record positions after failed write", "err", err)
			continue
		}
		kept := j.entries[:0]
		for _, e := range j.entries {
			if p, ok := held[e.src.Topic][analytics.TableClaims][e.src.Partition]; ok && e.src.Offset <= p.Offset {
				e.claim = false
			}
			if p, ok := held[e.src.Topic][e.table][e.src.Partition]; e.claimOnly || ok && e.src.Offset <= p.Offset {
				if !e.claim {
					continue // row (and claim, if it has one) held
				}
				e.claimOnly = true // the claims went alongside and did not land
			}
			kept = append(kept, e)
		}
		if n := len(j.entries) - len(kept); n > 0 {
			s.cfg.logger.Info("failed write had partly landed; retrying the rest", "landed", n, "rest", len(kept))
		}
		clear(j.entries[len(kept):])
		j.entries = kept
		return nil
	}
}

// waitForInserts returns once none of the INSERTs running now whose query id
// starts with prefix is still running (on any node of a cluster).
func (s *Sink) waitForInserts(ctx context.Context, prefix string) error {
	running := func() (map[string]bool, error) { return s.ch.RunningInserts(ctx, prefix) }
	first, err := running()
	if err != nil {
		return err
	}
	for len(first) > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		now, err := running()
		if err != nil {
			return err
		}
		for id := range first {
			if !now[id] {
				delete(first, id)
			}
		}
	}
	return nil
}

func (s *Sink) groupQueryPrefix() string { return "surge-sink:" + s.cfg.group + ":" }

// produceDeadLetters sends every rejected record of the job to the
// dead-letter topic and waits for the acks. Each dead letter fits the
// client's and the broker's default size limits (stream.MaxDeadLetterBytes);
// one refused as too large anyway (a dead-letter topic with a smaller
// max.message.bytes) is cut to half its size and sent again, so a poison
// record never stalls the sink. Other failures are retried with backoff,
// only for the records not yet acked, and logged with the record's source
// topic, partition and offset. It returns only when every dead letter is
// acked or ctx is done.
func (s *Sink) produceDeadLetters(ctx context.Context, j *job) error {
	src := make(map[*kgo.Record]analytics.Source)
	var recs []*kgo.Record
	for _, e := range j.entries {
		if e.rec != nil {
			continue
		}
		r := stream.NewDeadLetterRecord(s.cfg.topics.DeadLetters, stream.DeadLetter{
			Reason:          e.reason,
			SourceTopic:     e.src.Topic,
			SourcePartition: e.src.Partition,
			SourceOffset:    e.src.Offset,
			Group:           s.cfg.group,
			Attempts:        1,
			FirstFailure:    time.Now(),
			LastFailure:     time.Now(),
			Key:             e.key,
			Value:           e.raw,
		})
		src[r] = e.src
		recs = append(recs, r)
	}
	backoff := newBackoff(s.cfg.retryMax)
	for len(recs) > 0 {
		var failed []*kgo.Record
		tooLarge := false
		for _, res := range s.cl.ProduceSync(ctx, recs...) {
			if res.Err == nil {
				s.metrics.deadLetters.Inc()
				continue
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r, at := res.Record, src[res.Record]
			failed = append(failed, r)
			size := stream.DeadLetterSize(r)
			if errors.Is(res.Err, kerr.MessageTooLarge) || errors.Is(res.Err, kerr.RecordListTooLarge) {
				if stream.ShrinkDeadLetter(r, max(size/2, 1024)) {
					tooLarge = true
					s.cfg.logger.Warn("dead letter too large for the dead-letter topic; cutting its value and sending it again",
						"source_topic", at.Topic, "source_partition", at.Partition, "source_offset", at.Offset,
						"bytes", size, "now", stream.DeadLetterSize(r), "err", res.Err)
					continue
				}
			}
			s.metrics.deadLetterErrors.Inc()
			s.cfg.logger.Warn("produce dead letter failed; retrying (the batch's rows wait for it)",
				"dead_letter_topic", r.Topic, "source_topic", at.Topic, "source_partition", at.Partition,
				"source_offset", at.Offset, "bytes", size, "err", res.Err)
		}
		recs = failed
		if len(recs) > 0 && !tooLarge {
			backoff.wait(ctx)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	return nil
}

func (s *Sink) commit(ctx context.Context, j *job) {
	offsets := make(map[string]map[int32]kgo.EpochOffset)
	for k, next := range j.next {
		if s.isLost(k) {
			continue
		}
		if offsets[k.topic] == nil {
			offsets[k.topic] = make(map[int32]kgo.EpochOffset)
		}
		offsets[k.topic][k.partition] = kgo.EpochOffset{Epoch: -1, Offset: next}
	}
	if len(offsets) == 0 {
		return
	}
	var failed error
	s.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			failed = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if e := kerr.ErrorForCode(p.ErrorCode); e != nil && failed == nil {
					failed = fmt.Errorf("%s[%d]: %w", t.Topic, p.Partition, e)
				}
			}
		}
	})
	if failed != nil {
		// Not fatal: the watermarks keep the next owner from writing twice;
		// it only re-reads more.
		s.metrics.commitErrors.Inc()
		s.cfg.logger.Warn("commit offsets failed; the next owner re-reads and skips them", "err", failed)
		return
	}
	s.addStats(func(st *Stats) { st.Committed++ })
}

func (s *Sink) recordWrite(j *job, took time.Duration) {
	now := time.Now()
	var rows, rejects, dups int64
	for _, e := range j.entries {
		if e.claimOnly {
			continue // its row was written before
		}
		rows++
		switch {
		case e.rec == nil:
			rejects++
		case e.table == analytics.TableDuplicates:
			dups++
			s.metrics.duplicates.WithLabelValues(e.src.Topic).Inc()
		}
		s.metrics.freshness.Observe(now.Sub(e.ts).Seconds())
	}
	s.metrics.observeWrite(j, took)
	s.addStats(func(st *Stats) {
		st.Rows += rows
		st.Rejected += rejects
		st.Duplicates += dups
		st.Batches++
	})
}

// fill rebuilds batch from entries.
func fill(b *analytics.Batch, entries []entry) {
	b.Reset()
	for i := range entries {
		e := &entries[i]
		if e.claim {
			b.AddClaim(e.src, e.scope, e.hash, e.hash2)
		}
		if e.claimOnly {
			continue
		}
		if e.table == analytics.TableDuplicates {
			b.AddDuplicate(e.src, string(e.rec.Kind()), e.rec.ID(), e.dupOf)
			continue
		}
		switch r := e.rec.(type) {
		case nil:
			b.AddReject(e.src, e.reason, e.raw)
		case *schemas.Order:
			b.AddOrder(e.src, r)
		case *schemas.OrderStatus:
			b.AddOrderStatus(e.src, r)
		case *schemas.UserEvent:
			b.AddUserEvent(e.src, r)
		case *schemas.Coupon:
			b.AddCoupon(e.src, r)
		}
	}
}

type backoff struct {
	cur, max time.Duration
}

func newBackoff(max time.Duration) *backoff { return &backoff{cur: 100 * time.Millisecond, max: max} }

// wait sleeps the current backoff with ±20% jitter and doubles it up to max.
func (b *backoff) wait(ctx context.Context) {
	d := b.cur + time.Duration((rand.Float64()*0.4-0.2)*float64(b.cur))
	b.cur = min(2*b.cur, b.max)
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func fmtParts(m map[string][]int32) string {
	var parts []string
	for t, ps := range m {
		slices.Sort(ps)
		parts = append(parts, fmt.Sprintf("%s%v", t, ps))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}
