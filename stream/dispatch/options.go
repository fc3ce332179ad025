package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/surgeio/surge/stream"
)

// ErrConfig is wrapped by New for an invalid option value.
var ErrConfig = errors.New("invalid dispatch configuration")

// Defaults New uses unless an option overrides them.
const (
	DefaultMaxInFlight          = 1000
	DefaultMaxInFlightPartition = 200
	DefaultMaxBuffered          = 20_000
	DefaultMaxAttempts          = 10
	DefaultMaxAge               = 15 * time.Minute
	DefaultBackoffBase          = 200 * time.Millisecond
	DefaultBackoffMax           = 30 * time.Second
	DefaultCommitInterval       = 200 * time.Millisecond
	DefaultRevokeTimeout        = 10 * time.Second
	DefaultNormalShare          = 8
	DefaultSessionTimeout       = 10 * time.Second
	DefaultRebalanceTimeout     = 30 * time.Second
)

// Handler handles one record. A nil error means done; an error wrapping
// ErrPermanent (see Permanent) sends the record to the dead-letter topic at
// once; any other error is retried with backoff. ctx is cancelled when the
// dispatcher stops or loses the record's partition.
type Handler func(ctx context.Context, r Record) error

// Opt configures a Dispatcher.
type Opt func(*config)

type config struct {
	client        stream.ClientConfig
	group         string
	topics        []string // consumed, in this order
	priority      map[string]bool
	deadLetters   string
	handler       Handler
	maxInFlight   int
	maxPerPart    int
	maxBuffered   int
	maxAttempts   int
	maxAge        time.Duration
	backoffBase   time.Duration
	backoffMax    time.Duration
	commitEvery   time.Duration
	revokeTimeout time.Duration
	normalShare   int
	session       time.Duration
	rebalance     time.Duration
	logger        *slog.Logger
	registerer    prometheus.Registerer
	now           func() time.Time
	checkRecords  bool   // decode and check records before the handler (schemas)
	resizeGate    bool   // hold partitions a resize created (control.Gate)
	controlTopic  string // "" for control.DefaultTopic
}

func defaultConfig() config {
	t := stream.DefaultTopics()
	return config{
		topics:        []string{t.OrdersPriority, t.Orders},
		priority:      map[string]bool{t.OrdersPriority: true},
		deadLetters:   t.DeadLetters,
		checkRecords:  true,
		maxInFlight:   DefaultMaxInFlight,
		maxPerPart:    DefaultMaxInFlightPartition,
		maxBuffered:   DefaultMaxBuffered,
		maxAttempts:   DefaultMaxAttempts,
		maxAge:        DefaultMaxAge,
		backoffBase:   DefaultBackoffBase,
		backoffMax:    DefaultBackoffMax,
		commitEvery:   DefaultCommitInterval,
		revokeTimeout: DefaultRevokeTimeout,
		normalShare:   DefaultNormalShare,
		session:       DefaultSessionTimeout,
		rebalance:     DefaultRebalanceTimeout,
		logger:        slog.New(slog.DiscardHandler),
		now:           time.Now,
		resizeGate:    true,
	}
}

// WithClient sets how to reach Kafka (brokers, client id, TLS via
// ExtraOpts). Required.
func WithClient(c stream.ClientConfig) Opt { return func(cfg *config) { cfg.client = c } }

// WithGroup sets the consumer group: one group per downstream service.
// Required. It also names the group's retry topics ("<group>.retry.<topic>")
// and redrive log ("<group>.redriven").
func WithGroup(g string) Opt { return func(cfg *config) { cfg.group = g } }

// WithHandler sets the function every record is delivered to. Required
// (WithWebhook and Simulate build one).
func WithHandler(h Handler) Opt { return func(cfg *config) { cfg.handler = h } }

// WithTopics overrides the lanes consumed, default "orders-priority"
// (priority lane) and "orders" (normal lane). Topics listed in priority are
// drained first; the others form the normal lane.
func WithTopics(normal []string, priority ...string) Opt {
	return func(cfg *config) {
		cfg.topics = append(append([]string(nil), priority...), normal...)
		cfg.priority = make(map[string]bool, len(priority))
		for _, t := range priority {
			cfg.priority[t] = true
		}
	}
}

// WithDeadLetterTopic overrides the dead-letter topic, default
// "dead-letters".
func WithDeadLetterTopic(t string) Opt { return func(cfg *config) { cfg.deadLetters = t } }

// WithMaxInFlight bounds the handlers running at once: in total (default
// DefaultMaxInFlight) and per partition (default
// DefaultMaxInFlightPartition). Records of one key never run concurrently.
// perPartition 1 with total = partitions is a plain one-at-a-time consumer.
func WithMaxInFlight(total, perPartition int) Opt {
	return func(cfg *config) { cfg.maxInFlight, cfg.maxPerPart = total, perPartition }
}

// WithMaxBuffered bounds the records a lane holds fetched but not done,
// default DefaultMaxBuffered; at it the dispatcher stops polling (or
// pauses the lane while the other lane has records to fetch), so a lane
// may go over it by one poll.
func WithMaxBuffered(n int) Opt { return func(cfg *config) { cfg.maxBuffered = n } }

// WithRetryBudget overrides how long a failing record is retried before it
// goes to the dead-letter topic: at most attempts handler calls (default
// DefaultMaxAttempts) and no longer than maxAge after its first failure
// (default DefaultMaxAge). Zero leaves a bound unchanged.
func WithRetryBudget(attempts int, maxAge time.Duration) Opt {
	return func(cfg *config) {
		if attempts > 0 {
			cfg.maxAttempts = attempts
		}
		if maxAge > 0 {
			cfg.maxAge = maxAge
		}
	}
}

// WithBackoff overrides the retry backoff: base*2^(attempt-1), capped at
// max, with full jitter in [d/2, d]. Defaults DefaultBackoffBase and
// DefaultBackoffMax.
func WithBackoff(base, max time.Duration) Opt {
	return func(cfg *config) { cfg.backoffBase, cfg.backoffMax = base, max }
}

// WithCommitInterval overrides how often done offsets are committed,
// default DefaultCommitInterval. Offsets are also committed on revoke and
// on shutdown.
func WithCommitInterval(d time.Duration) Opt { return func(cfg *config) { cfg.commitEvery = d } }

// WithRevokeTimeout bounds how long a revoke waits for in-flight handlers
// of the revoked partitions, default DefaultRevokeTimeout. Handlers still
// running then are cancelled and their records redelivered by the new
// owner.
func WithRevokeTimeout(d time.Duration) Opt { return func(cfg *config) { cfg.revokeTimeout = d } }

// WithNormalShare sets the starvation bound of the normal lane: while both
// lanes have records waiting, at least 1 in n handler starts goes to the
// normal lane. Default DefaultNormalShare.
func WithNormalShare(n int) Opt { return func(cfg *config) { cfg.normalShare = n } }

// WithGroupTimeouts overrides the consumer-group session and rebalance
// timeouts, defaults DefaultSessionTimeout and DefaultRebalanceTimeout.
func WithGroupTimeouts(session, rebalance time.Duration) Opt {
	return func(cfg *config) { cfg.session, cfg.rebalance = session, rebalance }
}

// WithoutValidation hands records to the handler without checking them
// with schemas first (the default checks every record and dead-letters the
// invalid ones without calling the handler). Use it only for topics that
// do not carry surge events.
func WithoutValidation() Opt { return func(cfg *config) { cfg.checkRecords = false } }

// WithLogger sets the logger, default discarding.
func WithLogger(l *slog.Logger) Opt { return func(cfg *config) { cfg.logger = l } }

// WithRegisterer registers the group's metrics, default none.
func WithRegisterer(r prometheus.Registerer) Opt { return func(cfg *config) { cfg.registerer = r } }

// WithResizeGate turns the resize gate on or off, overriding the default
// on. On, the dispatcher takes part in order-safe partition resizes (see
// package control): it registers its group in the control topic, takes a
// resized topic's new partitions on within seconds, and holds each one
// until the group has consumed its parent partition past the resize's
// barrier and then the parent's retry partition up to the end it had at
// that moment, so that a key's older records, parked ones included, are
// done before its records on the new partition start. controlTopic ""
// keeps control.DefaultTopic.
func WithResizeGate(on bool, controlTopic string) Opt {
	return func(cfg *config) { cfg.resizeGate, cfg.controlTopic = on, controlTopic }
}

func (c *config) validate() error {
	switch {
	case len(c.client.Brokers) == 0:
		return fmt.Errorf("%w: no brokers (WithClient)", ErrConfig)
	case c.group == "":
		return fmt.Errorf("%w: no group (WithGroup)", ErrConfig)
	case c.handler == nil:
		return fmt.Errorf("%w: no handler (WithHandler)", ErrConfig)
	case len(c.topics) == 0:
		return fmt.Errorf("%w: no topics", ErrConfig)
	case c.maxInFlight < 1 || c.maxPerPart < 1:
		return fmt.Errorf("%w: max in flight %d/%d per partition must be positive", ErrConfig, c.maxInFlight, c.maxPerPart)
	case c.maxBuffered < 1:
		return fmt.Errorf("%w: max buffered must be positive", ErrConfig)
	case c.backoffBase <= 0 || c.backoffMax < c.backoffBase:
		return fmt.Errorf("%w: backoff base %s, max %s", ErrConfig, c.backoffBase, c.backoffMax)
	case c.commitEvery <= 0 || c.revokeTimeout <= 0:
		return fmt.Errorf("%w: commit interval and revoke timeout must be positive", ErrConfig)
	case c.normalShare < 1:
		return fmt.Errorf("%w: normal share must be at least 1", ErrConfig)
	case c.session < 300*time.Millisecond:
		return fmt.Errorf("%w: session timeout %s is below 300ms", ErrConfig, c.session)
	case c.deadLetters == "":
		return fmt.Errorf("%w: no dead-letter topic", ErrConfig)
	}
	seen := map[string]bool{}
	for _, t := range c.topics {
		if t == "" || seen[t] {
			return fmt.Errorf("%w: topic %q empty or listed twice", ErrConfig, t)
		}
		seen[t] = true
	}
	return nil
}

// RetryTopic is the topic where group parks failing records of source and
// the records of their keys behind them.
func RetryTopic(group, source string) string { return group + ".retry." + source }

// RedrivenTopic is the compacted topic recording which dead letters of
// group were redriven.
func RedrivenTopic(group string) string { return group + ".redriven" }
