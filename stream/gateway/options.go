package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/surgeio/surge/stream"
)

// Defaults of the limits and windows New applies when no option overrides
// them.
const (
	DefaultMaxBodyBytes        = 1 << 20 // one record: /v1/orders, /v1/events
	DefaultMaxBatchBytes       = 5 << 20 // /v1/events:batch
	DefaultMaxBatchItems       = 1000
	DefaultMaxInFlightBytes    = 64 << 20
	DefaultProduceTimeout      = 5 * time.Second
	DefaultIdempotencyWindow   = 24 * time.Hour
	DefaultIdempotencyMaxKeys  = 1_000_000
	DefaultIdempotencyTopic    = "gateway-idempotency"
	DefaultIdempotencyParts    = 8
	DefaultReadyCacheTTL       = time.Second
	DefaultShutdownTimeout     = 15 * time.Second
	DefaultIdempotencyLoadWait = time.Minute
	DefaultReadTimeout         = 30 * time.Second
)

// ErrNoProducer is returned by New without WithProducer.
var ErrNoProducer = errors.New("gateway needs a producer: use WithProducer")

// ErrNoAuth is returned by New when neither WithKeys nor WithoutAuth is
// given: a gateway never runs open by accident.
var ErrNoAuth = errors.New("gateway needs API keys: use WithKeys, or WithoutAuth for a local demo")

// Opt configures a Gateway built by New.
type Opt func(*config)

type config struct {
	producer        *stream.Producer
	keys            *Keys
	noAuth          bool
	log             *slog.Logger
	registry        *prometheus.Registry
	maxBody         int64
	maxBatch        int64
	maxBatchItems   int
	maxInFlight     int64
	rate            float64
	burst           int
	produceTimeout  time.Duration
	idemWindow      time.Duration
	idemMaxKeys     int
	idemTopic       string
	idemPartitions  int32
	idemLoadWait    time.Duration
	readyTTL        time.Duration
	shutdownTimeout time.Duration
	readTimeout     time.Duration
	createIdemTopic bool
	idemReplicas    int16
	now             func() time.Time
}

func defaultConfig() config {
	return config{
		maxBody:         DefaultMaxBodyBytes,
		maxBatch:        DefaultMaxBatchBytes,
		maxBatchItems:   DefaultMaxBatchItems,
		maxInFlight:     DefaultMaxInFlightBytes,
		produceTimeout:  DefaultProduceTimeout,
		idemWindow:      DefaultIdempotencyWindow,
		idemMaxKeys:     DefaultIdempotencyMaxKeys,
		idemTopic:       DefaultIdempotencyTopic,
		idemPartitions:  DefaultIdempotencyParts,
		idemLoadWait:    DefaultIdempotencyLoadWait,
		idemReplicas:    -1,
		readyTTL:        DefaultReadyCacheTTL,
		shutdownTimeout: DefaultShutdownTimeout,
		readTimeout:     DefaultReadTimeout,
		createIdemTopic: true,
		now:             time.Now,
	}
}

// WithProducer sets the producer records are written through (required).
// The gateway flushes it on shutdown; closing it stays with the caller.
// Its topics (stream.Producer.Topics) decide where records go, the
// priority lane included.
func WithProducer(p *stream.Producer) Opt { return func(c *config) { c.producer = p } }

// WithKeys sets the API keys that may call the /v1 endpoints. Without it
// (or WithoutAuth) New fails.
func WithKeys(k *Keys) Opt { return func(c *config) { c.keys = k } }

// WithoutAuth serves the /v1 endpoints without API keys, every caller
// acting as the key "anonymous" with every scope. It is meant for a local
// demo; New logs a warning.
func WithoutAuth() Opt { return func(c *config) { c.noAuth = true } }

// WithLogger sets the logger, overriding the default of discarding logs.
func WithLogger(l *slog.Logger) Opt { return func(c *config) { c.log = l } }

// WithRegistry sets the Prometheus registry the gateway registers its
// metrics in and serves on /metrics, overriding a fresh registry of its
// own (which holds the gateway's metrics only).
func WithRegistry(r *prometheus.Registry) Opt { return func(c *config) { c.registry = r } }

// WithMaxBodyBytes bounds the body of /v1/orders and /v1/events,
// overriding DefaultMaxBodyBytes (1 MiB). A record is also bounded by
// schemas.MaxRecordBytes.
func WithMaxBodyBytes(n int64) Opt { return func(c *config) { c.maxBody = n } }

// WithMaxBatchBytes bounds the body of /v1/events:batch, overriding
// DefaultMaxBatchBytes (5 MiB).
func WithMaxBatchBytes(n int64) Opt { return func(c *config) { c.maxBatch = n } }

// WithMaxBatchItems bounds the records of one batch, overriding
// DefaultMaxBatchItems (1000).
func WithMaxBatchItems(n int) Opt { return func(c *config) { c.maxBatchItems = n } }

// WithMaxInFlightBytes bounds the bytes of records handed to Kafka and not
// yet acknowledged, over all requests, overriding DefaultMaxInFlightBytes
// (64 MiB). A request that would go over is answered 503 at once.
func WithMaxInFlightBytes(n int64) Opt { return func(c *config) { c.maxInFlight = n } }

// WithRateLimit sets the default per-key token bucket: perSecond records
// per second with bursts of burst records, overriding the default of no
// limit. A key's own rate in the keys file overrides it. burst 0 means
// max(perSecond, the max batch items).
func WithRateLimit(perSecond float64, burst int) Opt {
	return func(c *config) { c.rate, c.burst = perSecond, burst }
}

// WithProduceTimeout bounds how long a request waits for Kafka's
// acknowledgement before it is answered 503, overriding
// DefaultProduceTimeout (5s).
func WithProduceTimeout(d time.Duration) Opt { return func(c *config) { c.produceTimeout = d } }

// WithIdempotencyWindow sets how long a request's result is kept for
// retries with the same key, overriding DefaultIdempotencyWindow (24h).
func WithIdempotencyWindow(d time.Duration) Opt { return func(c *config) { c.idemWindow = d } }

// WithIdempotencyMaxKeys bounds the results kept in memory, overriding
// DefaultIdempotencyMaxKeys (1,000,000; about 150 bytes each, in storage
// the garbage collector does not scan). The oldest go first when the
// bound is reached.
func WithIdempotencyMaxKeys(n int) Opt { return func(c *config) { c.idemMaxKeys = n } }

// WithIdempotencyTopic sets the compacted topic that keeps results across
// restarts, overriding DefaultIdempotencyTopic; "" keeps them in memory
// only. partitions and replicas are used when the gateway creates the
// topic (0 and -1 keep the defaults: 8 partitions, the broker's
// replication).
func WithIdempotencyTopic(name string, partitions int32, replicas int16) Opt {
	return func(c *config) {
		c.idemTopic = name
		if partitions > 0 {
			c.idemPartitions = partitions
		}
		c.idemReplicas = replicas
	}
}

// WithoutTopicCreation makes New expect the idempotency topic to exist
// instead of creating it when missing (the default creates it).
func WithoutTopicCreation() Opt { return func(c *config) { c.createIdemTopic = false } }

// WithReadyCacheTTL sets how long a /readyz answer is reused, overriding
// DefaultReadyCacheTTL (1s).
func WithReadyCacheTTL(d time.Duration) Opt { return func(c *config) { c.readyTTL = d } }

// WithShutdownTimeout bounds Serve's graceful shutdown (answering requests
// in progress, then flushing the producer), overriding
// DefaultShutdownTimeout (15s).
func WithShutdownTimeout(d time.Duration) Opt { return func(c *config) { c.shutdownTimeout = d } }

// WithReadTimeout bounds how long Serve waits for a request's headers and
// body to arrive (default DefaultReadTimeout); a body still arriving then is
// answered 408 request_timeout.
func WithReadTimeout(d time.Duration) Opt { return func(c *config) { c.readTimeout = d } }

// validate checks the configuration once, in New.
func (c *config) validate() error {
	switch {
	case c.producer == nil:
		return ErrNoProducer
	case c.keys == nil && !c.noAuth:
		return ErrNoAuth
	case c.keys != nil && c.noAuth:
		return errors.New("WithKeys and WithoutAuth cannot be combined")
	case c.maxBody < 1 || c.maxBatch < 1:
		return fmt.Errorf("max body %d and max batch body %d: must be positive", c.maxBody, c.maxBatch)
	case c.maxBatchItems < 1:
		return fmt.Errorf("max batch items %d: must be positive", c.maxBatchItems)
	case c.maxInFlight < 1:
		return fmt.Errorf("max in-flight bytes %d: must be positive", c.maxInFlight)
	case c.rate < 0 || c.burst < 0:
		return fmt.Errorf("rate limit %v/s burst %d: must not be negative", c.rate, c.burst)
	case c.produceTimeout <= 0:
		return fmt.Errorf("produce timeout %v: must be positive", c.produceTimeout)
	case c.idemWindow <= 0:
		return fmt.Errorf("idempotency window %v: must be positive", c.idemWindow)
	case c.idemMaxKeys < 1:
		return fmt.Errorf("idempotency max keys %d: must be positive", c.idemMaxKeys)
	case c.shutdownTimeout <= 0:
		return fmt.Errorf("shutdown timeout %v: must be positive", c.shutdownTimeout)
	case c.readTimeout <= 0:
		return fmt.Errorf("read timeout %v: must be positive", c.readTimeout)
	}
	if c.burst == 0 && c.rate > 0 {
		c.burst = max(int(c.rate), c.maxBatchItems)
	}
	return nil
}
