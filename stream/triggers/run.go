package triggers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/triggers/rules"
)

// Run consumes until ctx is done or a fatal error occurs, then ends the
// open transaction (committing what is done) and leaves the group.
func (r *Runner) Run(ctx context.Context) error {
	n, err := r.prepareTopics(ctx)
	if err != nil {
		return err
	}
	r.nparts = n
	sess, err := kgo.NewGroupTransactSession(append(r.cfg.client.Opts(),
		kgo.TransactionalID("surge-triggers."+r.cfg.group+"."+r.cfg.instance),
		kgo.TransactionTimeout(r.cfg.txnTimeout),
		kgo.ConsumerGroup(r.cfg.group),
		kgo.ConsumeTopics(r.inputs()...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Control records move the read position to the partition's end
		// after a transactional producer's commit marker: idle detection
		// compares that position with the last stable offset.
		kgo.KeepControlRecords(),
		// Range assignment gives every member the same partition numbers
		// of each input topic: one user's orders and events meet in one
		// instance, with one state.
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.SessionTimeout(r.cfg.session),
		kgo.RebalanceTimeout(r.cfg.rebalance),
		kgo.HeartbeatInterval(min(3*time.Second, r.cfg.session/3)),
		kgo.FetchMaxWait(100*time.Millisecond),
		kgo.ProducerLinger(0),
		kgo.RecordPartitioner(partitioner{changelog: r.changelog, byKey: kgo.StickyKeyPartitioner(nil)}),
		kgo.OnPartitionsAssigned(r.onAssigned),
		kgo.OnPartitionsRevoked(r.onRevoked),
		kgo.OnPartitionsLost(r.onRevoked),
	)...)
	if err != nil {
		return fmt.Errorf("create transactional client: %w", err)
	}
	r.cfg.logger.Info("triggers running", "group", r.cfg.group, "instance", r.cfg.instance,
		"partitions", n, "rules", len(r.set.Load().Enabled()), "changelog", r.changelog)
	err = r.loop(ctx, sess)
	sess.Close()
	return err
}

func (r *Runner) loop(ctx context.Context, sess *kgo.GroupTransactSession) error {
	var (
		out    []*kgo.Record
		issues []rules.Issue
		buf    []byte
	)
	for {
		if ctx.Err() != nil {
			return nil
		}
		if f := r.fatal.Load(); f != nil {
			return *f
		}
		pollCtx, cancel := context.WithTimeout(ctx, r.cfg.tick)
		fetches := sess.PollRecords(pollCtx, r.cfg.maxPoll)
		cancel()
		if fetches.IsClientClosed() {
			return nil
		}
		// After the poll: a reload that returned before a record was
		// produced applies to that record.
		r.applyReload()
		fetches.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			r.cfg.logger.Warn("fetch error", "topic", t, "partition", p, "err", err)
		})
		started := time.Now()
		now := started.UnixMilli()
		marks := r.checkIdle(ctx, sess.Client(), now)

		out, issues = out[:0], issues[:0]
		var st Stats
		r.mu.Lock()
		for _, p := range r.parts {
			p.Begin()
		}
		r.markIdle(marks, now)
		fetches.EachRecord(func(rec *kgo.Record) {
			p := r.parts[rec.Partition]
			ch, ok := r.channel(rec.Topic)
			if p == nil || !ok {
				return
			}
			p.seen[ch], p.pos[ch] = now, rec.Offset+1
			if rec.Attrs.IsControl() {
				return
			}
			st.Records++
			dec, err := schemas.Decode(rec.Value)
			if err != nil {
				st.Invalid++
				return
			}
			ev, ok := rules.FromRecord(dec)
			if !ok {
				return
			}
			st.Events++
			var late bool
			issues, late = p.Process(&ev, ch, issues)
			if late {
				st.Late++
				r.cfg.logger.Debug("late event", "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset)
				if r.cfg.topics.DeadLetters != "" {
					out = append(out, r.lateRecord(rec, &ev, ch, p.Partition, started))
				}
			}
		})
		for _, p := range r.parts {
			issues = p.Tick(now, issues)
		}
		for i := range issues {
			buf, _ = schemas.AppendJSON(buf[:0], issues[i].Coupon())
			out = append(out, &kgo.Record{Topic: r.cfg.topics.Coupons, Key: []byte(issues[i].User),
				Value: append([]byte(nil), buf...), Headers: []kgo.RecordHeader{{Key: stream.HeaderKind, Value: []byte(schemas.KindCoupon)}}})
		}
		users := 0
		for id, p := range r.parts {
			p.Changes(func(key string, value []byte) {
				out = append(out, &kgo.Record{Topic: r.changelog, Partition: id, Key: []byte(key), Value: value})
			})
			users += p.Users()
		}
		r.mu.Unlock()
		r.metrics.users.Set(float64(users))
		if st.Late > 0 {
			r.cfg.logger.Warn("late events recorded as dead letters", "count", st.Late)
		}

		if len(out) == 0 && st.Records == 0 {
			r.finish(true)
			continue
		}
		committed, err := r.transact(ctx, sess, out)
		r.finish(committed)
		r.metrics.txnSeconds.Observe(time.Since(started).Seconds())
		if committed {
			st.Commits++
			st.Issued = int64(len(issues))
			r.metrics.observeCommit(issues, st)
			if r.cfg.onIssue != nil {
				for _, is := range issues {
					r.cfg.onIssue(is)
				}
			}
		} else {
			st = Stats{Aborts: 1}
			r.metrics.aborts.Inc()
		}
		r.addStats(func(s *Stats) {
			s.Records += st.Records
			s.Events += st.Events
			s.Late += st.Late
			s.Invalid += st.Invalid
			s.Issued += st.Issued
			s.Commits += st.Commits
			s.Aborts += st.Aborts
		})
		if err != nil {
			return fmt.Errorf("end transaction: %w", err)
		}
	}
}

// transact writes out in one transaction with the consumed offsets.
func (r *Runner) transact(ctx context.Context, sess *kgo.GroupTransactSession, out []*kgo.Record) (bool, error) {
	// The transaction is ended even when ctx is cancelled: shutdown commits
	// the batch in hand rather than leaving a transaction open.
	endCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.txnTimeout)
	defer cancel()
	if err := sess.Begin(); err != nil {
		return false, fmt.Errorf("begin transaction: %w", err)
	}
	var (
		mu      sync.Mutex
		prodErr error
	)
	for _, rec := range out {
		sess.Produce(endCtx, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				prodErr = errors.Join(prodErr, err)
				mu.Unlock()
			}
		})
	}
	if err := sess.Client().Flush(endCtx); err != nil {
		prodErr = errors.Join(prodErr, err)
	}
	mu.Lock()
	perr := prodErr
	mu.Unlock()
	if perr != nil {
		r.cfg.logger.Warn("produce in transaction failed; aborting", "err", perr)
		_, err := sess.End(endCtx, kgo.TryAbort)
		return false, err
	}
	return sess.End(endCtx, kgo.TryCommit)
}

// finish makes the batch's state changes durable in memory, or undoes them
// when the transaction aborted (its input is consumed again from the
// committed offsets, so the read positions are forgotten too).
func (r *Runner) finish(committed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ev, ex int64
	for _, p := range r.parts {
		if committed {
			p.Commit()
		} else {
			p.Rollback()
			p.pos = [3]int64{-1, -1, -1}
		}
		ev += p.Stats.Evicted
		ex += p.Stats.BudgetExhausted
	}
	r.addStats(func(s *Stats) { s.Evicted, s.Exhausted = ev, ex })
}

func (r *Runner) applyReload() {
	set := r.pending.Swap(nil)
	if set == nil {
		return
	}
	r.mu.Lock()
	for _, p := range r.parts {
		p.SetRules(set)
	}
	r.set.Store(set)
	r.mu.Unlock()
	r.addStats(func(s *Stats) { s.Reloads++ })
	r.cfg.logger.Info("rules reloaded", "rules", len(set.Enabled()))
}

// lateRecord is the dead letter recording a late event.
func (r *Runner) lateRecord(rec *kgo.Record, ev *rules.Event, ch int, p *rules.Partition, now time.Time) *kgo.Record {
	reason := fmt.Sprintf("late: event time %s is more than the allowed lateness %s behind %s (newest event time of its input partition) or before the watermark %s",
		time.UnixMilli(ev.TS).UTC().Format(time.RFC3339Nano), r.set.Load().Lateness,
		p.Newest(ch).Format(time.RFC3339Nano), p.Watermark().Format(time.RFC3339Nano))
	return stream.NewDeadLetterRecord(r.cfg.topics.DeadLetters, stream.DeadLetter{
		Reason: reason, SourceTopic: rec.Topic, SourcePartition: rec.Partition, SourceOffset: rec.Offset,
		Group: r.cfg.group, Attempts: 1, FirstFailure: now, LastFailure: now,
		Key: rec.Key, Value: rec.Value, Headers: rec.Headers,
	})
}

// partitioner sends changelog records to the partition they name (the input
// partition they belong to) and everything else by key, like every surge
// producer.
type partitioner struct {
	changelog string
	byKey     kgo.Partitioner
}

func (p partitioner) ForTopic(t string) kgo.TopicPartitioner {
	if t == p.changelog {
		return kgo.ManualPartitioner().ForTopic(t)
	}
	return p.byKey.ForTopic(t)
}
