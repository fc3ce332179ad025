package triggers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/control"
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
	if r.cfg.resizeGate {
		g, err := control.OpenGate(ctx, control.GateConfig{Group: r.cfg.group, Component: "triggers",
			Topics: r.inputs(), Topic: r.cfg.control, ClientOpts: r.cfg.client.Opts(), Logger: r.cfg.logger})
		if err != nil {
			r.cfg.logger.Error("resize gate unavailable; a partition resize cannot keep per-user order for the triggers", "err", err)
		} else {
			r.gate = g
			defer g.Close()
		}
	}
	r.budgetN = r.budgetPartitions(n)
	r.refreshKeyChecks()
	var static []kgo.Opt
	if r.cfg.static {
		static = append(static, kgo.InstanceID(r.cfg.instance))
	}
	sess, err := kgo.NewGroupTransactSession(append(append(r.cfg.client.Opts(), static...),
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
	if r.gate != nil {
		r.gate.SetMember(sess.Client())
	}
	r.cfg.logger.Info("triggers running", "group", r.cfg.group, "instance", r.cfg.instance,
		"partitions", n, "rules", len(r.set.Load().Enabled()), "changelog", r.changelog)
	// Loading the producer id fences a predecessor with the same
	// instance id: its open transaction is aborted now, so restoring the
	// partitions it owned need not wait for the transaction timeout.
	if _, _, err := sess.Client().ProducerID(ctx); err != nil && ctx.Err() == nil {
		r.cfg.logger.Warn("init producer id", "err", err)
	}
	err = r.loop(ctx, sess)
	sess.Close()
	r.leave(ctx)
	return err
}

// leave takes a static member out of the group (a static member does not
// leave on close, so that a restart keeps its partitions): the others get
// its partitions at once rather than after the session timeout.
func (r *Runner) leave(ctx context.Context) {
	if !r.cfg.static {
		return
	}
	cl, err := r.cfg.client.NewClient()
	if err != nil {
		return
	}
	defer cl.Close()
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).LeaveGroup(lctx, kadm.LeaveGroup(r.cfg.group).InstanceIDs(r.cfg.instance).Reason("surge triggers stopped")); err != nil {
		r.cfg.logger.Warn("leave group", "instance", r.cfg.instance, "err", err)
	}
}

// txn is the transaction being filled.
type txn struct {
	open    bool // engine changes are being tracked (rules.Partition.Begin)
	kafka   bool // the Kafka transaction has begun
	started time.Time
	st      Stats
	issued  map[issueKey]issueSum
	issues  []rules.Issue // kept only for WithOnIssue
	errMu   sync.Mutex
	err     error
}

type issueKey struct{ campaign, rule, currency string }

type issueSum struct{ n, value int64 }

func (t *txn) promise(_ *kgo.Record, err error) {
	if err != nil {
		t.errMu.Lock()
		t.err = errors.Join(t.err, err)
		t.errMu.Unlock()
	}
}

func (r *Runner) loop(ctx context.Context, sess *kgo.GroupTransactSession) error {
	t := &txn{}
	// Records are produced even once ctx is cancelled: shutdown commits
	// the transaction in hand.
	prodCtx := context.WithoutCancel(ctx)
	var outs []*partOut
	for {
		if ctx.Err() != nil && !t.open {
			return nil
		}
		if f := r.fatal.Load(); f != nil {
			if t.open {
				_ = r.end(ctx, sess, t, false)
			}
			return *f
		}
		wait, room := r.cfg.tick, r.cfg.maxPoll
		if t.open {
			wait = max(time.Millisecond, min(wait, time.Until(t.started.Add(r.cfg.interval))))
			room -= int(t.st.Records)
		}
		var fetches kgo.Fetches
		if ctx.Err() == nil {
			pollCtx, cancel := context.WithTimeout(ctx, wait)
			fetches = sess.PollRecords(pollCtx, max(room, 1))
			cancel()
			if fetches.IsClientClosed() {
				return nil
			}
		}
		if !t.open {
			// Between transactions: a reload that returned before a
			// record was produced applies to that record.
			r.applyReload()
		}
		fetches.EachError(func(tp string, p int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			r.cfg.logger.Warn("fetch error", "topic", tp, "partition", p, "err", err)
		})
		now := time.Now()
		marks := r.checkIdle(ctx, sess.Client(), now.UnixMilli())

		r.mu.Lock()
		if !t.open {
			t.open, t.started = true, now
			t.st, t.issues = Stats{}, t.issues[:0]
			if t.issued == nil {
				t.issued = map[issueKey]issueSum{}
			}
			clear(t.issued)
		}
		for _, p := range r.parts {
			// Every partition's changes in the transaction are tracked,
			// also those of a partition assigned while it is open (its
			// end then aborts: the assignment changed).
			if !p.Tracking() {
				p.Begin()
			}
		}
		r.markIdle(marks, now.UnixMilli())
		closing := r.cfg.interval == 0 || ctx.Err() != nil || now.Sub(t.started) >= r.cfg.interval ||
			t.st.Records+int64(fetches.NumRecords()) >= int64(r.cfg.maxPoll) || r.pending.Load() != nil ||
			r.rebalanced.Swap(false) // the transaction will abort: end it now
		r.processParts(fetches, now, closing)
		outs = outs[:0]
		users, npending := 0, 0
		for _, p := range r.parts {
			o := &p.out
			t.st.Records += o.st.Records
			t.st.Events += o.st.Events
			t.st.Invalid += o.st.Invalid
			t.st.CouponErrors += o.st.CouponErrors
			t.st.Late += o.st.Late
			t.st.Duplicates += o.st.Duplicates
			t.st.StateRecords += o.st.StateRecords
			t.st.Issued += int64(len(o.issues))
			for i := range o.issues {
				is := &o.issues[i]
				k := issueKey{is.Campaign, is.Rule, is.Currency}
				sum := t.issued[k]
				t.issued[k] = issueSum{sum.n + 1, sum.value + is.Value}
			}
			if r.cfg.onIssue != nil {
				t.issues = append(t.issues, o.issues...)
			}
			outs = append(outs, o)
			npending += len(o.pending)
			users += p.Users()
		}
		r.mu.Unlock()
		if closing {
			r.metrics.users.Set(float64(users))
		}
		if npending > 0 || t.st.Records > 0 {
			if !t.kafka {
				if err := sess.Begin(); err != nil {
					_ = r.end(ctx, sess, t, false)
					return fmt.Errorf("begin transaction: %w", err)
				}
				t.kafka = true
			}
			// The outputs stay with their partitions until the
			// transaction ends, also if a rebalance drops one meanwhile.
			for _, o := range outs {
				for _, rec := range o.pending {
					sess.Produce(prodCtx, rec, t.promise)
				}
			}
		}
		if !closing {
			continue
		}
		if err := r.end(ctx, sess, t, true); err != nil {
			return err
		}
	}
}

// end ends the open transaction t: it commits it if commit is true and
// nothing failed, else aborts it, and then makes the engine's changes
// durable in memory or undoes them.
func (r *Runner) end(ctx context.Context, sess *kgo.GroupTransactSession, t *txn, commit bool) error {
	defer func() {
		t.open, t.kafka, t.err = false, false, nil
		r.mu.Lock()
		for _, p := range r.parts {
			p.out.reset() // the producer is done with the records
		}
		r.mu.Unlock()
	}()
	if !t.kafka {
		// Nothing was consumed or produced: only the watermark moved.
		// Ending the session's (empty) transaction clears its record of
		// a revoke since the last end: the session reports a revoke to
		// onRevoked only when it has none on record, and an instance
		// with no input would otherwise keep it for as long as its
		// transactions stay empty, missing every later revoke.
		endCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.txnTimeout)
		_, err := sess.End(endCtx, kgo.TryAbort)
		cancel()
		r.finish(true)
		if err != nil {
			return fmt.Errorf("end empty transaction: %w", err)
		}
		return nil
	}
	if t.st.Late > 0 {
		r.cfg.logger.Warn("late events recorded as dead letters", "count", t.st.Late)
	}
	committed, err := r.transact(ctx, sess, t, commit)
	r.finish(committed)
	r.metrics.txnSeconds.Observe(time.Since(t.started).Seconds())
	st := t.st
	if committed {
		st.Commits = 1
		r.metrics.observeCommit(t.issued, st)
		if len(t.issued) > 0 || r.budgetsStale.Swap(false) {
			r.observeBudgets() // spend changes only when coupons are issued
		}
		if r.cfg.onIssue != nil {
			for _, is := range t.issues {
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
		s.Duplicates += st.Duplicates
		s.Invalid += st.Invalid
		s.CouponErrors += st.CouponErrors
		s.Issued += st.Issued
		s.StateRecords += st.StateRecords
		s.Commits += st.Commits
		s.Aborts += st.Aborts
	})
	if err != nil {
		return fmt.Errorf("end transaction: %w", err)
	}
	return nil
}

// transact ends the Kafka transaction: it waits for what was produced into
// it and commits it with the consumed offsets, or aborts it.
func (r *Runner) transact(ctx context.Context, sess *kgo.GroupTransactSession, t *txn, commit bool) (bool, error) {
	// The transaction is ended even when ctx is cancelled: shutdown commits
	// the batch in hand rather than leaving a transaction open.
	endCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.txnTimeout)
	defer cancel()
	if err := sess.Client().Flush(endCtx); err != nil {
		t.promise(nil, err)
	}
	t.errMu.Lock()
	perr := t.err
	t.errMu.Unlock()
	if perr != nil || !commit {
		if perr != nil {
			r.cfg.logger.Warn("produce in transaction failed; aborting", "err", perr)
		}
		_, err := sess.End(endCtx, kgo.TryAbort)
		return false, err
	}
	if err := r.fence(endCtx, sess.Client()); err != nil {
		r.cfg.logger.Warn("this instance may no longer own its partitions; aborting the transaction", "err", err)
		_, aerr := sess.End(endCtx, kgo.TryAbort)
		return false, aerr
	}
	return sess.End(endCtx, kgo.TryCommit)
}

// fence makes sure a transaction that consumed nothing is committed only by
// a current member of the group. A transaction that consumed records
// commits their offsets inside it, and the coordinator refuses that commit
// from an instance the group has replaced (say, one resumed from a pause
// longer than its session timeout), so the transaction aborts. A
// transaction that only carries timer coupons (absence rules firing as the
// watermark passes their deadline) has no offsets to commit and would
// escape that check: such an instance would issue coupons its successor
// issues too. For those, fence commits the group's committed offsets again
// outside the transaction; the coordinator accepts that only from a
// current member, so a replaced instance aborts instead. What remains is a
// pause longer than the session timeout between this answer and EndTxn
// reaching the broker (stream/triggers/doc.go).
func (r *Runner) fence(ctx context.Context, cl *kgo.Client) error {
	if len(cl.UncommittedOffsets()) > 0 {
		return nil // the transaction's own offset commit fences it
	}
	committed := cl.CommittedOffsets()
	if len(committed) == 0 {
		return nil
	}
	var ferr error
	cl.CommitOffsetsSync(ctx, committed, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			ferr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil && ferr == nil {
					ferr = fmt.Errorf("commit %s/%d: %w", t.Topic, p.Partition, err)
				}
			}
		}
	})
	return ferr
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
	r.budgetsStale.Store(true) // budgets may have changed
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
