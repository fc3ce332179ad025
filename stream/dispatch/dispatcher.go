package dispatch

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sync/errgroup"
)

// Dispatcher delivers the records of its lanes to a handler as one member
// of a consumer group. Create it with New, run it with Run.
type Dispatcher struct {
	cfg     config
	cl      *kgo.Client // group member: consumes the lanes, produces, commits
	retryCl *kgo.Client // reads the owned retry partitions directly
	eng     *engine
	stats   *statsCounters

	commitMu sync.Mutex  // one commit at a time
	noMeta   atomic.Bool // the broker refused commit metadata as too large
}

// New returns a Dispatcher configured by opts; WithClient, WithGroup and
// WithHandler are required. It fails with an error wrapping ErrConfig for
// an invalid option.
func New(opts ...Opt) (*Dispatcher, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m, sc := newMetrics(cfg.group, cfg.registerer)
	d := &Dispatcher{cfg: cfg, stats: sc}
	d.eng = newEngine(&d.cfg, m)
	d.eng.write = func(ctx context.Context, r *kgo.Record) error { return d.cl.ProduceSync(ctx, r).FirstErr() }
	d.eng.pause = d.pause

	retryTopics := make(map[string]map[int32]kgo.Offset)
	for _, t := range cfg.topics {
		retryTopics[RetryTopic(cfg.group, t)] = map[int32]kgo.Offset{}
	}
	var err error
	d.cl, err = cfg.client.NewClient(
		kgo.ConsumerGroup(cfg.group),
		kgo.ConsumeTopics(cfg.topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.SessionTimeout(cfg.session),
		kgo.RebalanceTimeout(cfg.rebalance),
		kgo.HeartbeatInterval(min(3*time.Second, cfg.session/3)),
		kgo.OnPartitionsAssigned(d.onAssigned),
		kgo.OnPartitionsRevoked(d.onRevoked),
		kgo.OnPartitionsLost(d.onLost),
		kgo.RecordPartitioner(kgo.BasicConsistentPartitioner(partitionFor)),
		kgo.ProducerLinger(2*time.Millisecond),
		kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		// Assignment reads the retry topics' offsets, whose metadata the
		// client may not have: the default 5s would hold every assignment.
		kgo.MetadataMinAge(250*time.Millisecond),
	)
	if err != nil {
		return nil, fmt.Errorf("create kafka client: %w", err)
	}
	d.retryCl, err = cfg.client.NewClient(
		kgo.ConsumePartitions(retryTopics),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		d.cl.Close()
		return nil, fmt.Errorf("create kafka client: %w", err)
	}
	return d, nil
}

// partitionFor sends a retry record to the partition it names (the source
// record's partition) and any other record to a partition by key hash.
func partitionFor(topic string) func(*kgo.Record, int) int {
	return func(r *kgo.Record, n int) int {
		if r.Partition >= 0 && int(r.Partition) < n && isRetryTopic(topic) {
			return int(r.Partition)
		}
		var h uint32 = 2166136261
		for _, b := range r.Key {
			h = (h ^ uint32(b)) * 16777619
		}
		return int(h % uint32(n))
	}
}

func isRetryTopic(t string) bool {
	for i := 0; i+7 <= len(t); i++ {
		if t[i:i+7] == ".retry." {
			return true
		}
	}
	return false
}

// Stats returns the dispatcher's counters.
func (d *Dispatcher) Stats() Stats { return d.stats.snapshot() }

// Group is the dispatcher's consumer group.
func (d *Dispatcher) Group() string { return d.cfg.group }

// Run creates the group's retry topics if missing, then dispatches until
// ctx is done or a fatal error occurs. On the way out it stops fetching,
// waits (up to the revoke timeout) for running handlers, commits what is
// done and leaves the group.
func (d *Dispatcher) Run(ctx context.Context) error {
	defer d.retryCl.Close()
	if err := d.ensureRetryTopics(ctx); err != nil {
		d.cl.Close()
		return err
	}
	stop := make(chan struct{})
	engDone := make(chan struct{})
	go func() { defer close(engDone); d.eng.run(stop) }()

	pollCtx, cancelPoll := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(pollCtx)
	g.Go(func() error { return d.poll(gctx, d.cl, false) })
	g.Go(func() error { return d.poll(gctx, d.retryCl, true) })
	g.Go(func() error { d.commitLoop(gctx); return nil })
	<-gctx.Done()
	cancelPoll()
	err := g.Wait()

	// Shutdown in order: stop starting handlers, wait for running ones,
	// commit, leave the group (its revoke finds nothing left), stop.
	d.eng.do(func() { d.eng.stopping = true })
	d.finish(d.ownedSources())
	d.cl.Close()
	close(stop)
	<-engDone
	d.eng.hcancel()
	d.eng.wg.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// poll feeds one client's fetches to the engine until ctx is done.
func (d *Dispatcher) poll(ctx context.Context, cl *kgo.Client, retry bool) error {
	for {
		fs := cl.PollRecords(ctx, 4096)
		if fs.IsClientClosed() || ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			d.eng.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
		})
		select {
		case d.eng.fetches <- fetchBatch{fs: fs, retry: retry}:
		case <-ctx.Done():
			return nil
		}
	}
}

func (d *Dispatcher) pause(retry bool, topics []string, paused bool) {
	cl := d.cl
	if retry {
		cl = d.retryCl
	}
	if paused {
		cl.PauseFetchTopics(topics...)
	} else {
		cl.ResumeFetchTopics(topics...)
	}
}

// commitLoop commits done offsets every commit interval.
func (d *Dispatcher) commitLoop(ctx context.Context) {
	tick := time.NewTicker(d.cfg.commitEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := d.commit(ctx, nil); err != nil && ctx.Err() == nil {
				d.eng.log.Warn("commit offsets", "err", err)
			}
		}
	}
}

// commit commits the done watermark of the given source partitions and
// their retry partitions (all owned ones when only is nil), each with the
// offsets done above it in its metadata (see commitmeta.go).
func (d *Dispatcher) commit(ctx context.Context, only map[tp]bool) error {
	d.commitMu.Lock()
	defer d.commitMu.Unlock()
	type pending struct {
		p    *part
		at   int64
		meta string
	}
	offsets := map[string]map[int32]kgo.EpochOffset{}
	metas := map[tp]string{}
	var parts []pending
	var lag int64
	noMeta := d.noMeta.Load()
	d.eng.do(func() {
		for k, p := range d.eng.parts {
			if p.dropped {
				continue
			}
			src := p
			if p.retry {
				src = p.peer
			}
			if p.hwm >= 0 && p.committed >= 0 {
				lag += p.hwm - p.committed
			}
			if only != nil && !only[src.tp] {
				continue
			}
			if src.loading || p.loading {
				continue // held records are not tracked yet
			}
			w := p.win.watermark()
			if w < 0 {
				continue
			}
			var meta string
			if !noMeta {
				meta = encodeDone(w, p.doneSpans())
			}
			if w == p.committed && meta == p.meta {
				continue
			}
			if offsets[k.topic] == nil {
				offsets[k.topic] = map[int32]kgo.EpochOffset{}
			}
			offsets[k.topic][k.partition] = kgo.EpochOffset{Epoch: -1, Offset: w}
			metas[k] = meta
			parts = append(parts, pending{p, w, meta})
		}
		d.eng.m.commitLag.Set(float64(lag))
	})
	if len(offsets) == 0 {
		return nil
	}
	ctx = kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
		for i := range req.Topics {
			rt := &req.Topics[i]
			for j := range rt.Partitions {
				m := metas[tp{rt.Topic, rt.Partitions[j].Partition}]
				rt.Partitions[j].Metadata = &m
			}
		}
		return nil
	})
	// Only partitions the broker answered without error count as
	// committed: a commit that was not sent (its context cancelled while
	// kgo waited out a rebalance) answers with an error, and marking it
	// committed would make the commit on revoke or shutdown skip it.
	var cerr error
	acked := map[tp]bool{}
	d.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					if errors.Is(err, kerr.OffsetMetadataTooLarge) {
						// The broker takes less metadata than metaMaxBytes:
						// commit offsets alone from now on.
						d.noMeta.Store(true)
					}
					cerr = fmt.Errorf("commit %s[%d]: %w", t.Topic, p.Partition, err)
					continue
				}
				acked[tp{t.Topic, p.Partition}] = true
			}
		}
	})
	if len(acked) == 0 {
		if cerr == nil {
			cerr = errors.New("commit answered without partitions")
		}
		return cerr
	}
	d.eng.do(func() {
		for _, c := range parts {
			if acked[c.p.tp] {
				c.p.committed, c.p.meta = c.at, c.meta
			}
		}
		d.eng.m.commits.Inc()
	})
	return cerr
}

func (d *Dispatcher) ownedSources() map[string][]int32 {
	out := map[string][]int32{}
	d.eng.do(func() {
		for k, p := range d.eng.parts {
			if !p.retry && !p.dropped {
				out[k.topic] = append(out[k.topic], k.partition)
			}
		}
	})
	return out
}

// onAssigned sets up newly assigned source partitions: each gets its retry
// partition, read from its committed offset; the source's records are held
// until the retry partition is read up to the end it had at assignment.
// The committed offsets of both are read here too: records below them (a
// poll from before a revoke) are ignored, and those their metadata records
// as done are skipped.
func (d *Dispatcher) onAssigned(ctx context.Context, _ *kgo.Client, assigned map[string][]int32) {
	if len(assigned) == 0 {
		return
	}
	adm := kadm.NewClient(d.cl)
	var retryTopics, all []string
	for t := range assigned {
		retryTopics = append(retryTopics, RetryTopic(d.cfg.group, t))
		all = append(all, t, RetryTopic(d.cfg.group, t))
	}
	var (
		committed kadm.OffsetResponses
		ends      kadm.ListedOffsets
		err       error
	)
	for attempt := 0; ; attempt++ {
		committed, err = adm.FetchOffsetsForTopics(ctx, d.cfg.group, all...)
		if err == nil {
			ends, err = adm.ListEndOffsets(ctx, retryTopics...)
		}
		if err == nil || ctx.Err() != nil || attempt == 20 {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err != nil {
		d.eng.log.Error("read committed offsets; retry partitions start at their beginning", "err", err)
	}
	lookup := func(t string, p int32) (int64, []span) {
		if o, ok := committed.Lookup(t, p); ok && o.Err == nil && o.At >= 0 {
			return o.At, decodeDone(o.At, o.Metadata)
		}
		return -1, nil
	}
	add := map[string]map[int32]kgo.Offset{}
	d.eng.do(func() {
		for t, ps := range assigned {
			rt := RetryTopic(d.cfg.group, t)
			l := d.eng.laneOf(t)
			for _, pn := range ps {
				s := newPart(d.eng.hctx, tp{t, pn}, l, false)
				r := newPart(d.eng.hctx, tp{rt, pn}, l, true)
				s.peer, r.peer = r, s
				if at, prior := lookup(t, pn); at >= 0 {
					s.committed, s.seen, s.prior = at, at, prior
				}
				start, prior := lookup(rt, pn)
				end := int64(0)
				if o, ok := ends.Lookup(rt, pn); ok && o.Err == nil {
					end = o.Offset
				}
				r.loadEnd = end
				r.committed, r.prior = start, prior
				if start < 0 {
					start = 0
				}
				r.seen = start
				if start < end {
					r.loading, s.loading = true, true
				}
				d.eng.parts[s.tp], d.eng.parts[r.tp] = s, r
				l.parts = append(l.parts, s, r)
				if add[rt] == nil {
					add[rt] = map[int32]kgo.Offset{}
				}
				add[rt][pn] = kgo.NewOffset().At(start)
			}
		}
	})
	d.retryCl.AddConsumePartitions(add)
	d.eng.log.Info("partitions assigned", "partitions", fmtParts(assigned))
}

// onRevoked hands revoked partitions over: no new handler starts for them,
// running ones get up to the revoke timeout to finish (then they are
// cancelled and their records left to the new owner), what is done is
// committed, and the partitions are dropped.
func (d *Dispatcher) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	if len(revoked) == 0 {
		return
	}
	d.finish(revoked)
	d.eng.log.Info("partitions revoked", "partitions", fmtParts(revoked))
}

// finish drains, commits and drops the given source partitions and their
// retry partitions.
func (d *Dispatcher) finish(srcs map[string][]int32) {
	only := map[tp]bool{}
	var waits []chan struct{}
	d.eng.do(func() {
		for t, ps := range srcs {
			for _, pn := range ps {
				s := d.eng.parts[tp{t, pn}]
				if s == nil || s.dropped {
					continue
				}
				only[s.tp] = true
				for _, p := range []*part{s, s.peer} {
					p.revoking = true
					if p.inflight > 0 {
						p.drained = make(chan struct{})
						waits = append(waits, p.drained)
					}
				}
			}
		}
	})
	if len(only) == 0 {
		return
	}
	deadline := time.NewTimer(d.cfg.revokeTimeout)
	defer deadline.Stop()
	for _, w := range waits {
		select {
		case <-w:
		case <-deadline.C:
			d.eng.log.Warn("handlers still running at the revoke timeout; cancelling them, the new owner redelivers their records")
			goto commit
		}
	}
commit:
	// A commit can meet another member's rebalance (REBALANCE_IN_PROGRESS):
	// try a few times, since what is not committed here is redelivered by
	// the next owner. Each try commits only what is not committed yet.
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for try := 1; ; try++ {
		err := d.commit(cctx, only)
		if err == nil {
			break
		}
		if try == 5 || cctx.Err() != nil {
			d.eng.log.Warn("commit on revoke", "err", err)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.drop(only)
}

// drop forgets partitions (source and retry) and stops reading their retry
// partitions, cancelling anything still running for them.
func (d *Dispatcher) drop(only map[tp]bool) {
	remove := map[string][]int32{}
	d.eng.do(func() {
		for k := range only {
			s := d.eng.parts[k]
			if s == nil {
				continue
			}
			for _, p := range []*part{s, s.peer} {
				p.dropped = true
				p.lane.buffered -= p.win.notDone() + len(p.held)
				p.lane.ready -= p.ready.len()
				p.lane.remove(p)
				delete(d.eng.parts, p.tp)
				p.cancel() // abandons handlers still running past the revoke timeout
			}
			remove[s.peer.topic] = append(remove[s.peer.topic], s.peer.partition)
		}
	})
	d.retryCl.RemoveConsumePartitions(remove)
}

// onLost drops partitions another member may already own, without
// committing.
func (d *Dispatcher) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	if len(lost) == 0 {
		return
	}
	only := map[tp]bool{}
	for t, ps := range lost {
		for _, p := range ps {
			only[tp{t, p}] = true
		}
	}
	d.drop(only)
	d.eng.log.Warn("partitions lost; their records are left to the new owner", "partitions", fmtParts(lost))
}

func fmtParts(m map[string][]int32) string {
	var ts []string
	for t := range m {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	s := ""
	for _, t := range ts {
		ps := append([]int32(nil), m[t]...)
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		s += fmt.Sprintf("%s%v ", t, ps)
	}
	return s
}
