package sink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/control"
)

// MaxPollRecords is the most records one poll hands the sink. With the
// flusher taking at most one batch ahead, the sink holds at most three
// batches (one being written, one taken ahead, one filling), each at most
// the batch rows plus one poll: that is the memory bound while ClickHouse
// is slow or down.
const MaxPollRecords = 20_000

// DefaultGroup is the consumer group the sink joins unless WithGroup says otherwise.
const DefaultGroup = "surge-sink"

type config struct {
	client        stream.ClientConfig
	group         string
	topics        stream.Topics
	batchRows     int
	batchBytes    int
	batchInterval time.Duration
	logger        *slog.Logger
	registerer    prometheus.Registerer
	retryMax      time.Duration
	session       time.Duration
	rebalance     time.Duration
	shutdown      time.Duration
	resizeGate    bool   // hold partitions a resize created (control.Gate)
	controlTopic  string // "" for control.DefaultTopic
	dedupWindow   time.Duration
	repairSettle  time.Duration
	repairSet     bool
}

// Opt configures a Sink.
type Opt func(*config)

// WithClient sets how the sink connects to Kafka. Required.
func WithClient(c stream.ClientConfig) Opt { return func(cfg *config) { cfg.client = c } }

// WithGroup sets the consumer group; the default is DefaultGroup.
func WithGroup(g string) Opt { return func(cfg *config) { cfg.group = g } }

// WithTopics sets the topic names; the default is stream.DefaultTopics().
func WithTopics(t stream.Topics) Opt { return func(cfg *config) { cfg.topics = t } }

// WithBatchRows bounds the rows of one batch; the default is 200,000.
func WithBatchRows(n int) Opt { return func(cfg *config) { cfg.batchRows = n } }

// WithBatchBytes bounds the record bytes of one batch; the default is 64 MiB.
func WithBatchBytes(n int) Opt { return func(cfg *config) { cfg.batchBytes = n } }

// WithBatchInterval bounds how long a record waits in a batch before it is
// written; the default is 500ms. It is the main term of end-to-end freshness.
func WithBatchInterval(d time.Duration) Opt { return func(cfg *config) { cfg.batchInterval = d } }

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Opt { return func(cfg *config) { cfg.logger = l } }

// WithRegisterer registers the sink's Prometheus metrics; the default registers none.
func WithRegisterer(r prometheus.Registerer) Opt { return func(cfg *config) { cfg.registerer = r } }

// WithMaxRetryBackoff caps the backoff between retries of a failed write; the
// default is 5s.
func WithMaxRetryBackoff(d time.Duration) Opt { return func(cfg *config) { cfg.retryMax = d } }

// WithSessionTimeout sets the consumer-group session timeout: how long after
// an instance dies its partitions move to another; the default is 10s.
func WithSessionTimeout(d time.Duration) Opt { return func(cfg *config) { cfg.session = d } }

// WithRebalanceTimeout sets how long a rebalance waits for members to rejoin;
// the default is 30s.
func WithRebalanceTimeout(d time.Duration) Opt { return func(cfg *config) { cfg.rebalance = d } }

// WithShutdownTimeout bounds how long Run goes on writing what it holds
// once its context is done; the default is 30s. Past it, Run gives up the
// batch being written (nothing of it is committed: the next owner reads it
// again) and returns: a sink stuck retrying ClickHouse or the dead-letter
// topic still stops on one SIGTERM.
func WithShutdownTimeout(d time.Duration) Opt { return func(cfg *config) { cfg.shutdown = d } }

// WithResizeGate turns the resize gate on or off, overriding the default
// on. On, the sink takes part in order-safe partition resizes (see package
// control): it registers its group in the control topic, takes a resized
// topic's new partitions on within seconds, and holds each one until its
// committed offset on the parent partition passed the resize's barrier.
// controlTopic "" keeps control.DefaultTopic.
func WithResizeGate(on bool, controlTopic string) Opt {
	return func(cfg *config) { cfg.resizeGate, cfg.controlTopic = on, controlTopic }
}

// Sink consumes surge's topics and writes them to ClickHouse exactly once.
type Sink struct {
	cfg        config
	ch         *analytics.Conn
	cl         *kgo.Client
	gate       atomic.Pointer[control.Gate] // nil when off, unavailable or not yet open
	instance   string
	metrics    *metrics
	dedup      *dedup // nil when de-duplication is off
	mismatches *mismatchLog
	layouts    atomic.Pointer[map[string]topicLayout] // copy on write

	mu  sync.Mutex // guards cur
	cur *job       // batch being filled by the poll loop

	ownMu sync.RWMutex
	parts map[tp]*partState // partitions the poll loop accepts records for
	lost  map[tp]bool       // partitions lost without a clean revoke: never written
	// assigned mirrors kgo's assignment: a partition whose batch was
	// dropped (dropJob) stays here until kgo reports it revoked or lost,
	// or the next assignment takes it again (rejoin.go).
	assigned map[tp]bool
	member   string // group member id as of the last assignment

	jobs     chan *job        // hand-off to the flusher, which holds at most one job ahead
	repairs  chan time.Time   // a rollup repair is due (repair.go)
	free     chan *job        // written jobs, for reuse
	lastRows int              // entries of the last job handed off (under mu)
	batch    *analytics.Batch // flusher-only: columns of the job being written
	pending  sync.WaitGroup   // jobs handed off and not yet flushed
	flushWG  sync.WaitGroup
	seq      uint64 // flusher-only: query id sequence

	marksMu sync.Mutex
	marks   map[markKey]analytics.Position // base of the next write-ahead marks, per owned (table, partition)

	statsMu sync.Mutex
	stats   Stats
}

// Stats counts what a sink has done since it started.
type Stats struct {
	Rows     int64 // rows written to ClickHouse, rejects and duplicates included
	Rejected int64 // records that failed validation
	// Duplicates counts copies of an event stored within the dedup window
	// that were written to sink_duplicates instead of their table.
	Duplicates int64
	Replayed   int64 // records skipped because ClickHouse already held them
	Batches    int64
	Retries    int64
	Committed  int64 // successful offset commits
	Consumed   int64 // records polled from Kafka (written, rejected, replayed or still buffered)
	// ProbedAhead counts batches decided from a dedup probe made while the
	// batch before them was written (see flushLoop).
	ProbedAhead int64
}

// ErrConfig is wrapped by every configuration error from New.
var ErrConfig = errors.New("invalid sink configuration")

// New validates the options and connects a consumer to Kafka. ch must have
// its migrations applied.
func New(ch *analytics.Conn, opts ...Opt) (*Sink, error) {
	cfg := config{
		group:         DefaultGroup,
		topics:        stream.DefaultTopics(),
		batchRows:     200_000,
		batchBytes:    64 << 20,
		batchInterval: 500 * time.Millisecond,
		logger:        slog.New(slog.DiscardHandler),
		retryMax:      5 * time.Second,
		session:       10 * time.Second,
		rebalance:     30 * time.Second,
		shutdown:      30 * time.Second,
		resizeGate:    true,
		dedupWindow:   DefaultDedupWindow,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if !cfg.repairSet {
		cfg.repairSettle = DefaultRollupSettle
	}
	switch {
	case ch == nil:
		return nil, fmt.Errorf("%w: no ClickHouse connection", ErrConfig)
	case len(cfg.client.Brokers) == 0:
		return nil, fmt.Errorf("%w: no Kafka brokers", ErrConfig)
	case cfg.group == "":
		return nil, fmt.Errorf("%w: empty group name", ErrConfig)
	case cfg.batchRows < 1 || cfg.batchRows > 1_000_000:
		// ClickHouse splits blocks above max_insert_block_size (1,048,576 rows);
		// one block per INSERT is what makes an INSERT atomic.
		return nil, fmt.Errorf("%w: batch rows %d out of range 1..1000000", ErrConfig, cfg.batchRows)
	case cfg.session < 300*time.Millisecond:
		return nil, fmt.Errorf("%w: session timeout %s is below 300ms", ErrConfig, cfg.session)
	case cfg.shutdown <= 0:
		return nil, fmt.Errorf("%w: shutdown timeout must be positive", ErrConfig)
	case cfg.batchInterval <= 0:
		return nil, fmt.Errorf("%w: batch interval must be positive", ErrConfig)
	case cfg.dedupWindow < 0:
		return nil, fmt.Errorf("%w: dedup window %s is negative (0 turns de-duplication off)", ErrConfig, cfg.dedupWindow)
	}
	// sink_dedup_claims names a topic by a 32-bit hash of its name: two
	// topics of one hash would share their claims.
	if cfg.dedupWindow > 0 {
		if err := analytics.CheckTopicIDs(cfg.topics.Data()); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	var idb [4]byte
	_, _ = rand.Read(idb[:])
	s := &Sink{
		cfg:      cfg,
		ch:       ch,
		instance: hex.EncodeToString(idb[:]),
		parts:    make(map[tp]*partState),
		lost:     make(map[tp]bool),
		assigned: make(map[tp]bool),
		marks:    make(map[markKey]analytics.Position),
		jobs:     make(chan *job), // the flusher takes the next job while it writes one (flushLoop)
		repairs:  make(chan time.Time, 1),
		free:     make(chan *job, 2),
		batch:    analytics.NewBatch(),
		metrics:  newMetrics(cfg.registerer),
		dedup:    newDedup(cfg.dedupWindow),
	}
	s.mismatches = newMismatchLog(cfg.logger, s.metrics.mismatches)
	s.cur = newJob()
	kopts := append(cfg.client.Opts(),
		kgo.ConsumerGroup(cfg.group),
		kgo.ConsumeTopics(cfg.topics.Data()...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transaction markers (the coupons topic is written in
		// transactions) are delivered so that the committed offset moves
		// past a marker that ends a partition: lag reads 0 and a resize's
		// barrier, which can fall on a marker, is passed.
		kgo.KeepControlRecords(),
		kgo.DisableAutoCommit(),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.SessionTimeout(cfg.session),
		kgo.RebalanceTimeout(cfg.rebalance),
		kgo.HeartbeatInterval(min(3*time.Second, cfg.session/3)),
		kgo.FetchMaxBytes(32<<20),
		kgo.OnPartitionsAssigned(s.onAssigned),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onLost),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
	)
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, fmt.Errorf("create kafka client: %w", err)
	}
	s.cl = cl
	return s, nil
}

// Stats returns a snapshot of the sink's counters.
func (s *Sink) Stats() Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	return s.stats
}

func (s *Sink) addStats(f func(*Stats)) {
	s.statsMu.Lock()
	f(&s.stats)
	s.statsMu.Unlock()
}

// Run consumes until ctx is done or a fatal error occurs. On the way out it
// stops fetching, writes what it holds, commits, and leaves the group.
func (s *Sink) Run(ctx context.Context) error {
	// On a cluster this also checks that every INSERT gets the settings
	// the guarantee needs (analytics.ClusterSettings): fail now, not
	// silently later.
	// A refusal here closes the client too (it joined the group in New):
	// the group rebalances at once, not after the session timeout.
	if _, err := s.ch.Cluster(ctx); err != nil {
		s.cl.Close()
		return fmt.Errorf("clickhouse: %w", err)
	}
	// The claims of every topic the database has marks of share
	// sink_dedup_claims with ours: none may have one of our topics' ids.
	if s.dedup != nil {
		if err := s.ch.CheckTopicIDsWith(ctx, s.cfg.topics.Data()); err != nil {
			s.cl.Close()
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	if g := s.openGate(ctx); g != nil {
		defer g.Close()
	}
	flushCtx, cancelFlush := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelFlush()
	var repairWG sync.WaitGroup
	repairWG.Add(1)
	go func() { // ended by ctx
		defer repairWG.Done()
		s.repairLoop(ctx)
	}()
	defer repairWG.Wait()
	s.flushWG.Add(1)
	go func() { // ended by close(s.jobs)
		defer s.flushWG.Done()
		s.flushLoop(flushCtx)
	}()

	err := s.pollLoop(ctx)

	// Shutdown in order: stop intake, flush, commit, close, within the
	// shutdown timeout: past it flushCtx ends whatever write or dead-letter
	// retry is going on, uncommitted.
	bound := time.AfterFunc(s.cfg.shutdown, func() {
		s.cfg.logger.Warn("shutdown timeout: giving up the batch being written; it is read again by the next owner",
			"timeout", s.cfg.shutdown)
		cancelFlush()
	})
	defer bound.Stop()
	s.mu.Lock()
	s.handoffLocked()
	s.mu.Unlock()
	close(s.jobs)
	s.flushWG.Wait()
	s.cl.Close() // leaves the group; onRevoked runs with nothing left to write
	return err
}

// openGate joins the resize protocol (see WithResizeGate) and holds the
// partitions assigned before it was open, if a resize created them:
// nothing of them was polled yet.
func (s *Sink) openGate(ctx context.Context) *control.Gate {
	if !s.cfg.resizeGate {
		return nil
	}
	g, err := control.OpenGate(ctx, control.GateConfig{Group: s.cfg.group, Component: "sink",
		Topics: s.cfg.topics.Data(), Topic: s.cfg.controlTopic, ClientOpts: s.cfg.client.Opts(), Logger: s.cfg.logger})
	if err != nil {
		s.cfg.logger.Error("resize gate unavailable; a partition resize cannot keep per-key order for the sink", "err", err)
		return nil
	}
	g.SetMember(s.cl)
	s.gate.Store(g)
	owned := map[string][]int32{}
	s.ownMu.RLock()
	for k := range s.parts {
		owned[k.topic] = append(owned[k.topic], k.partition)
	}
	s.ownMu.RUnlock()
	g.Assigned(ctx, s.cl, owned)
	return g
}

func (s *Sink) pollLoop(ctx context.Context) error {
	var dec []decoded
	for {
		if ctx.Err() != nil {
			return nil
		}
		pollCtx, cancel := s.pollContext(ctx)
		fetches := s.cl.PollRecords(pollCtx, MaxPollRecords)
		cancel()
		if fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			s.cfg.logger.Warn("fetch error", "topic", t, "partition", p, "err", err)
			s.metrics.fetchErrors.Inc()
		})
		recs := fetches.Records()
		data := int64(len(recs))
		for _, r := range recs {
			if r.Attrs.IsControl() {
				data--
			}
		}
		s.addStats(func(st *Stats) { st.Consumed += data })
		if cap(dec) < len(recs) {
			dec = make([]decoded, len(recs))
		}
		dec = dec[:len(recs)]
		s.decodeAll(recs, dec)
		s.mu.Lock()
		for i, r := range recs {
			s.addLocked(r, dec[i])
		}
		clear(dec)
		if s.cur.ready(s.cfg) && !s.handoffCtxLocked(ctx) {
			s.mu.Unlock() // stopping while the flusher is busy: Run bounds the rest
			return nil
		}
		s.mu.Unlock()
	}
}

// pollContext bounds a poll so that a partly filled batch is written within
// the batch interval.
func (s *Sink) pollContext(ctx context.Context) (context.Context, context.CancelFunc) {
	s.mu.Lock()
	n, started := s.cur.rows(), s.cur.started
	s.mu.Unlock()
	if n == 0 {
		return context.WithTimeout(ctx, s.cfg.batchInterval)
	}
	return context.WithDeadline(ctx, started.Add(s.cfg.batchInterval))
}
