package dispatch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/surgeio/surge/stream/control"
)

// Dispatcher delivers the records of its lanes to a handler as one member
// of a consumer group. Create it with New, run it with Run.
type Dispatcher struct {
	cfg     config
	cl      *kgo.Client // group member: consumes the lanes, produces, commits
	retryCl *kgo.Client // reads the owned retry partitions directly
	eng     *engine
	fence   *fence         // group membership lease: no handler call without it
	sizers  [2]*fetchSizer // size cl's (0) and retryCl's (1) fetches (fetchsize.go)
	stats   *statsCounters

	gate     *control.Gate // nil when the resize gate is off or unavailable
	clReady  chan struct{} // closed once cl and retryCl are set
	commitMu sync.Mutex    // one commit at a time
	noMeta   atomic.Bool   // the broker refused commit metadata as too large
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
	d.sizers = [2]*fetchSizer{newFetchSizer(cfg.maxBuffered), newFetchSizer(cfg.maxBuffered)}
	d.fence = newFence(cfg.session, cfg.rebalance)
	d.eng = newEngine(&d.cfg, m, d.fence)
	d.fence.onLapse = func() {
		m.leaseLapses.Inc()
		d.eng.log.Warn("group membership not confirmed within the lease (paused, stalled or cut off from the coordinator?); no handler starts until it is",
			"lease", d.fence.lease)
	}
	d.eng.write = func(ctx context.Context, r *kgo.Record) error {
		err := d.cl.ProduceSync(ctx, r).FirstErr()
		if err != nil {
			d.cl.ForceMetadataRefresh() // e.g. a retry partition the client does not know yet
		}
		return err
	}
	d.eng.pause = d.pause
	d.clReady = make(chan struct{})
	return d, nil
}

// fetchMaxWait bounds a fetch's long poll (kgo's default is 5s, Kafka's
// Java client's 500ms): a fetch in flight is not cut short when a paused
// lane resumes, so the resumed lane waits for it.
const fetchMaxWait = 500 * time.Millisecond

// newClients creates the dispatcher's two clients: the retry client first,
// then the group member, whose callbacks may run before NewClient returns
// (they wait for clReady).
func (d *Dispatcher) newClients() error {
	cfg := &d.cfg
	retryTopics := make(map[string]map[int32]kgo.Offset)
	for _, t := range cfg.topics {
		retryTopics[RetryTopic(cfg.group, t)] = map[int32]kgo.Offset{}
	}
	var err error
	d.retryCl, err = cfg.client.NewClient(
		kgo.ConsumePartitions(retryTopics),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.MetadataMinAge(250*time.Millisecond),
		kgo.FetchMaxWait(fetchMaxWait),
		kgo.WithHooks(d.sizers[1]),
	)
	if err != nil {
		return fmt.Errorf("create kafka client: %w", err)
	}
	d.sizers[1].start(d.retryCl)
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
		kgo.FetchMaxWait(fetchMaxWait),
		kgo.WithHooks(d.sizers[0]),
	)
	if err != nil {
		d.retryCl.Close()
		return fmt.Errorf("create kafka client: %w", err)
	}
	// Before the first fetch, which follows the first assignment (whose
	// callback waits for clReady).
	d.sizers[0].start(d.cl)
	close(d.clReady)
	return nil
}

// partitionFor sends a retry record to the partition it names (the source
// record's partition) and any other record to a partition by key hash. A
// retry record naming a partition the client does not know yet (the retry
// topic was just grown) fails and is written again after a metadata
// refresh: it never goes to another partition, whose owner would take it
// out of its key's order.
func partitionFor(topic string) func(*kgo.Record, int) int {
	retry := isRetryTopic(topic)
	return func(r *kgo.Record, n int) int {
		if retry {
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
//
// Run joins the group; call it once.
func (d *Dispatcher) Run(ctx context.Context) error {
	cl, err := d.cfg.client.NewClient(kgo.MetadataMinAge(250 * time.Millisecond))
	if err != nil {
		return fmt.Errorf("create kafka client: %w", err)
	}
	err = d.ensureRetryTopics(ctx, kadm.NewClient(cl))
	cl.Close()
	if err != nil {
		return err
	}
	d.openGate(ctx)
	if d.gate != nil {
		defer d.gate.Close()
	}
	stop := make(chan struct{})
	engDone := make(chan struct{})
	go func() { defer close(engDone); d.eng.run(stop) }()
	if err := d.newClients(); err != nil {
		close(stop)
		<-engDone
		return err
	}
	defer d.retryCl.Close()
	if d.gate != nil {
		d.gate.SetMember(d.cl)
	}

	pollCtx, cancelPoll := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(pollCtx)
	g.Go(func() error { return d.poll(gctx, d.cl, false) })
	g.Go(func() error { return d.poll(gctx, d.retryCl, true) })
	g.Go(func() error { d.commitLoop(gctx); return nil })
	// The membership lease is renewed until the handlers are done.
	fenceCtx, endFence := context.WithCancel(context.Background())
	fenceDone := make(chan struct{})
	go func() { defer close(fenceDone); d.confirmLoop(fenceCtx) }()
	<-gctx.Done()
	cancelPoll()
	err = g.Wait()

	// Shutdown in order: stop starting handlers, wait for running ones,
	// commit, leave the group (its revoke finds nothing left), stop.
	d.eng.do(func() { d.eng.stopping = true })
	d.finish(d.ownedSources())
	endFence()
	<-fenceDone
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
	c := 0
	if retry {
		c = 1
	}
	g, sizer := &d.eng.gates[c], d.sizers[c]
	for {
		if !g.wait(ctx) {
			return nil
		}
		fs := cl.PollRecords(ctx, 4096)
		if fs.IsClientClosed() || ctx.Err() != nil {
			return nil
		}
		sizer.tune()
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

// openGate joins the resize protocol (see WithResizeGate). Without the
// control topic the dispatcher runs on, logging that resizes cannot keep
// order for it.
func (d *Dispatcher) openGate(ctx context.Context) {
	if !d.cfg.resizeGate {
		return
	}
	group := d.cfg.group
	g, err := control.OpenGate(ctx, control.GateConfig{
		Group:      group,
		Component:  "dispatch",
		Topics:     d.cfg.topics,
		Topic:      d.cfg.controlTopic,
		ClientOpts: d.cfg.client.Opts(),
		Logger:     d.cfg.logger,
		// A key's older records may wait parked in the parent's retry
		// partition: they must be done too.
		Companion: func(topic string, parent int32) (string, int32, bool) {
			return RetryTopic(group, topic), parent, true
		},
	})
	if err != nil {
		d.eng.log.Error("resize gate unavailable; a partition resize cannot keep per-key order for this group", "err", err)
		return
	}
	d.gate = g
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
