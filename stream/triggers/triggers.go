package triggers

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/control"
	"github.com/surgeio/surge/stream/triggers/rules"
)

// DefaultGroup is the consumer group of the triggers unless WithGroup says
// otherwise. The state changelog topic is named after the group.
const DefaultGroup = "surge-triggers"

// ChangelogTopic is the compacted topic that holds group's per-user state.
func ChangelogTopic(group string) string { return group + ".state" }

// ErrConfig is wrapped by every configuration error from New.
var ErrConfig = errors.New("invalid triggers configuration")

// ErrTopology is returned by Run when the input topics do not have the same
// partition count, or the changelog has another: a user's state must live
// in one partition number across all of them.
var ErrTopology = errors.New("input and changelog topics are not co-partitioned")

type config struct {
	client      stream.ClientConfig
	group       string
	topics      stream.Topics
	set         *rules.Set
	instance    string
	static      bool // instance was given: static group membership
	idle        time.Duration
	txnTimeout  time.Duration
	session     time.Duration
	rebalance   time.Duration
	maxPoll     int
	interval    time.Duration
	tick        time.Duration
	logger      *slog.Logger
	registerer  prometheus.Registerer
	onIssue     func(rules.Issue)
	replication int16
	resizeGate  bool   // hold partitions a resize created (control.Gate)
	budgetParts int32  // partitions budgets are split over; 0: the inputs' count before any resize
	control     string // control topic; "" for control.DefaultTopic
}

// Opt configures a Runner.
type Opt func(*config)

// WithClient sets how to connect to Kafka. Required.
func WithClient(c stream.ClientConfig) Opt { return func(cfg *config) { cfg.client = c } }

// WithGroup sets the consumer group; the default is DefaultGroup.
func WithGroup(g string) Opt { return func(cfg *config) { cfg.group = g } }

// WithTopics sets the topic names; the default is stream.DefaultTopics().
func WithTopics(t stream.Topics) Opt { return func(cfg *config) { cfg.topics = t } }

// WithRules sets the rule set to start with. Required.
func WithRules(s *rules.Set) Opt { return func(cfg *config) { cfg.set = s } }

// WithInstanceID names this instance: its transactional id is derived from
// it, and it is its static group membership (group.instance.id). Give each
// instance a stable id (a pod name): a restarted instance then fences its
// predecessor's open transaction at once instead of waiting for the
// transaction timeout, and takes over its group membership and partitions
// at once, without waiting for the session timeout and without moving the
// other instances' partitions. An instance that stops leaves the group
// explicitly. The default is random per process, with dynamic membership.
func WithInstanceID(id string) Opt {
	return func(cfg *config) { cfg.instance, cfg.static = id, id != "" }
}

// WithIdleTimeout sets how long an input partition that has been read to
// its end may stay quiet before the watermark stops waiting for it; the
// default is rules.DefaultIdleTimeout (5s). A partition the consumer is
// behind on never counts as idle, however long it delivers nothing.
func WithIdleTimeout(d time.Duration) Opt { return func(cfg *config) { cfg.idle = d } }

// WithTransactionTimeout bounds how long a transaction a crashed instance
// left open blocks its partitions' new owner; the default is 10s.
func WithTransactionTimeout(d time.Duration) Opt { return func(cfg *config) { cfg.txnTimeout = d } }

// WithSessionTimeout sets the consumer-group session timeout; the default
// is 10s.
func WithSessionTimeout(d time.Duration) Opt { return func(cfg *config) { cfg.session = d } }

// WithRebalanceTimeout sets the consumer-group rebalance timeout; the
// default is 30s.
func WithRebalanceTimeout(d time.Duration) Opt { return func(cfg *config) { cfg.rebalance = d } }

// WithMaxPollRecords bounds the input records of one transaction; the
// default is 200,000 (a backlog is caught up in few, large transactions;
// a steady stream polls far fewer records at a time).
func WithMaxPollRecords(n int) Opt { return func(cfg *config) { cfg.maxPoll = n } }

// WithCommitInterval keeps a transaction open for up to d, collecting what
// several polls bring (or until it holds the max poll records), before
// committing it. 0, the default, commits after every poll: a coupon is
// readable one transaction round trip after its event was fetched, and
// under load polls (hence transactions) grow on their own. A longer
// interval trades that latency (up to d more) for fewer, larger
// transactions: less per-transaction overhead, and a user changed several
// times in the interval is written to the changelog once.
func WithCommitInterval(d time.Duration) Opt { return func(cfg *config) { cfg.interval = d } }

// WithTick sets how often timers are checked when no records arrive; the
// default is 100ms.
func WithTick(d time.Duration) Opt { return func(cfg *config) { cfg.tick = d } }

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Opt { return func(cfg *config) { cfg.logger = l } }

// WithRegisterer registers the Prometheus metrics; the default registers none.
func WithRegisterer(r prometheus.Registerer) Opt { return func(cfg *config) { cfg.registerer = r } }

// WithOnIssue calls f for every coupon once its transaction committed (for
// demos and tests; f must be quick).
func WithOnIssue(f func(rules.Issue)) Opt { return func(cfg *config) { cfg.onIssue = f } }

// WithReplication sets the replication factor of the changelog topic when
// it is created; the default is -1 (the broker's default).
func WithReplication(n int16) Opt { return func(cfg *config) { cfg.replication = n } }

// WithBudgetPartitions sets the number of input partitions campaign
// budgets are split over, overriding the default: the inputs' partition
// count before their first resize on record in the control topic (or the
// current count when there is none). Partitions beyond it get no share.
// Set it to the current count after a resize only when no budgeted coupon
// was issued under the old split (e.g. before the campaign window opens):
// otherwise the budget can be overspent by up to the old split's spend.
func WithBudgetPartitions(n int32) Opt { return func(cfg *config) { cfg.budgetParts = n } }

// WithResizeGate turns the resize gate on or off, overriding the default
// on. On, the Runner takes part in order-safe partition resizes (see
// package control): it registers its group in the control topic, takes a
// resized input's new partitions on within seconds, grows the changelog to
// match, and holds each new partition until the group's committed offset
// on its parent partition passed the resize's barrier, so a user's events
// are evaluated in order across the resize. controlTopic "" keeps
// control.DefaultTopic.
func WithResizeGate(on bool, controlTopic string) Opt {
	return func(cfg *config) { cfg.resizeGate, cfg.control = on, controlTopic }
}

// Stats counts what a Runner did since it started.
type Stats struct {
	Records int64 // input records consumed
	Events  int64 // records that are events for the engine (coupons are not)
	Late    int64 // late events (see rules.Partition.Process), sent to dead letters
	// Duplicates counts copies of an event (same event id) that already
	// changed its user's state: not applied, so never a second coupon.
	Duplicates int64
	Invalid    int64 // records that did not decode (the sink dead-letters them)
	Issued     int64 // coupons committed
	// CouponErrors counts coupons the rules issued that failed to encode
	// (schemas refused them): logged, never written, not in Issued.
	CouponErrors int64
	// StateRecords counts the changelog records committed: changed users,
	// tombstones of evicted ones, and partition meta records.
	StateRecords int64
	Commits      int64
	Aborts       int64
	Restored     int64 // changelog records read on assignment
	Reloads      int64 // rule sets applied after the first
	Evicted      int64
	Exhausted    int64 // fires refused by a budget share
	Partitions   int   // input partition numbers owned now
}

// Runner consumes the input topics in a group and issues coupons exactly
// once. Create it with New, run it with Run.
type Runner struct {
	cfg       config
	changelog string

	gate *control.Gate // nil when off or unavailable

	mu     sync.Mutex // guards parts and the partitions' state
	parts  map[int32]*part
	nparts int32
	// budgetN is the partition count budgets are split over (see
	// WithBudgetPartitions).
	budgetN  int32
	topicIDs map[string]string // input topic -> its Kafka topic id, from prepareTopics
	keys     *keyChecks
	topics   [3]string // input topic per rules channel; "" when not consumed

	lastIdleCheck int64 // Unix ms; loop goroutine only

	set     atomic.Pointer[rules.Set]
	pending atomic.Pointer[rules.Set]
	fatal   atomic.Pointer[error]
	// rebalanced is set when partitions are assigned or revoked: the open
	// transaction cannot commit, the loop ends it at once.
	rebalanced atomic.Bool
	// budgetsStale is set when the owned partitions change: the budget
	// gauge is recomputed at the next commit even if it issued nothing.
	budgetsStale atomic.Bool

	statsMu sync.Mutex
	stats   Stats
	metrics *metrics
}

// New validates the options.
func New(opts ...Opt) (*Runner, error) {
	cfg := config{
		group:       DefaultGroup,
		topics:      stream.DefaultTopics(),
		idle:        rules.DefaultIdleTimeout,
		txnTimeout:  10 * time.Second,
		session:     10 * time.Second,
		rebalance:   30 * time.Second,
		maxPoll:     200_000,
		tick:        100 * time.Millisecond,
		logger:      slog.New(slog.DiscardHandler),
		replication: -1,
		resizeGate:  true,
	}
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case len(cfg.client.Brokers) == 0:
		return nil, fmt.Errorf("%w: no Kafka brokers", ErrConfig)
	case cfg.group == "":
		return nil, fmt.Errorf("%w: empty group name", ErrConfig)
	case cfg.set == nil:
		return nil, fmt.Errorf("%w: no rules", ErrConfig)
	case cfg.topics.Coupons == "" || cfg.topics.UserEvents == "" || cfg.topics.Orders == "":
		return nil, fmt.Errorf("%w: the orders, user-events and coupons topics must be named", ErrConfig)
	case cfg.maxPoll < 1:
		return nil, fmt.Errorf("%w: max poll records must be positive", ErrConfig)
	case cfg.interval < 0 || cfg.interval >= cfg.txnTimeout:
		return nil, fmt.Errorf("%w: commit interval %s must be at least 0 and below the transaction timeout %s", ErrConfig, cfg.interval, cfg.txnTimeout)
	case cfg.txnTimeout < time.Second:
		return nil, fmt.Errorf("%w: transaction timeout %s is below 1s", ErrConfig, cfg.txnTimeout)
	}
	if cfg.instance == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		cfg.instance = hex.EncodeToString(b[:])
	}
	r := &Runner{cfg: cfg, changelog: ChangelogTopic(cfg.group), parts: map[int32]*part{},
		metrics: newMetrics(cfg.registerer), keys: newKeyChecks(cfg.logger)}
	if cfg.registerer != nil {
		cfg.registerer.MustRegister(r.keys.counter)
	}
	r.topics[rules.ChannelOrders] = cfg.topics.Orders
	r.topics[rules.ChannelPriority] = cfg.topics.OrdersPriority
	r.topics[rules.ChannelUserEvents] = cfg.topics.UserEvents
	r.set.Store(cfg.set)
	return r, nil
}

// Reload switches to set before the next batch. State is kept by rule id:
// a rule that keeps its id keeps its users' progress, caps and budget spend.
func (r *Runner) Reload(set *rules.Set) { r.pending.Store(set) }

// Rules returns the rule set in force (or about to be).
func (r *Runner) Rules() *rules.Set {
	if s := r.pending.Load(); s != nil {
		return s
	}
	return r.set.Load()
}

// Stats returns a snapshot of the counters.
func (r *Runner) Stats() Stats {
	r.statsMu.Lock()
	defer r.statsMu.Unlock()
	return r.stats
}

func (r *Runner) addStats(f func(*Stats)) {
	r.statsMu.Lock()
	f(&r.stats)
	r.statsMu.Unlock()
}

func (r *Runner) channel(topic string) (int, bool) {
	for ch, t := range r.topics {
		if t == topic && t != "" {
			return ch, true
		}
	}
	return 0, false
}

func (r *Runner) inputs() []string {
	var in []string
	for _, t := range []string{r.cfg.topics.Orders, r.cfg.topics.OrdersPriority, r.cfg.topics.UserEvents} {
		if t != "" {
			in = append(in, t)
		}
	}
	return in
}
