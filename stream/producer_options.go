package stream

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Producer defaults.
const (
	DefaultCompression = "lz4"
	DefaultLinger      = 5 * time.Millisecond
	DefaultProducerID  = "surge-producer"
)

// ErrNoBrokers is returned by NewProducer when neither WithBrokers nor
// WithClient is given.
var ErrNoBrokers = errors.New("no brokers: use WithBrokers or WithClient")

// ErrNotDurable is returned by NewProducer for a shared client that does
// not write with acks=all and idempotence, which surge's no-loss promise
// needs.
var ErrNotDurable = errors.New("client is not durable: want acks=all and idempotent writes")

// ProducerOpt configures a Producer built by NewProducer.
type ProducerOpt func(*producerConfig)

type producerConfig struct {
	brokers     []string
	client      *kgo.Client
	topics      Topics
	compression string
	linger      time.Duration
	maxBuffered int
	logger      *slog.Logger
	clientID    string
	clientOpts  []kgo.Opt

	controlTopic string // "" for control.DefaultTopic

	// clientShaping names the options given that only make sense when
	// the Producer builds its own client.
	clientShaping []string
}

func defaultProducerConfig() producerConfig {
	return producerConfig{
		topics:      DefaultTopics(),
		compression: DefaultCompression,
		linger:      DefaultLinger,
		clientID:    DefaultProducerID,
	}
}

// WithBrokers sets the seed brokers the Producer's own client connects to.
// Required unless WithClient is given.
func WithBrokers(addrs ...string) ProducerOpt {
	return func(c *producerConfig) {
		c.brokers = append(c.brokers, addrs...)
		c.clientShaping = append(c.clientShaping, "WithBrokers")
	}
}

// WithClient makes the Producer write through cl instead of a client of its
// own; Close then flushes but does not close cl. cl must use acks=all and
// idempotent writes (kgo's defaults). cl's partitioner is used: kgo's
// default and StickyKeyPartitioner both hash keys with murmur2 like the
// Java client, so key-to-partition mapping is the same. Options that shape
// a client (WithBrokers, WithCompression, WithLinger, WithMaxBufferedBytes,
// WithClientID, WithClientOpts) cannot be combined with it.
func WithClient(cl *kgo.Client) ProducerOpt {
	return func(c *producerConfig) { c.client = cl }
}

// WithTopics sets the topic names records go to, overriding DefaultTopics.
func WithTopics(t Topics) ProducerOpt {
	return func(c *producerConfig) { c.topics = t }
}

// WithCompression sets the batch compression codec, one of "none", "gzip",
// "snappy", "lz4" or "zstd", overriding the default "lz4". lz4 matches
// the compression.type surge's topics are created with, so a broker stores
// batches as written instead of recompressing them; on JSON events it
// compresses about as well as snappy and decompresses faster, and every
// Kafka client (librdkafka, Java) reads it.
func WithCompression(name string) ProducerOpt {
	return func(c *producerConfig) {
		c.compression = name
		c.clientShaping = append(c.clientShaping, "WithCompression")
	}
}

// WithLinger sets how long a partition's batch waits for more records
// before it is sent, overriding the default 5ms. Longer lingers make larger
// batches (less broker work, better compression) at the cost of latency.
func WithLinger(d time.Duration) ProducerOpt {
	return func(c *producerConfig) {
		c.linger = d
		c.clientShaping = append(c.clientShaping, "WithLinger")
	}
}

// WithMaxBufferedBytes bounds the bytes of records buffered and not yet
// acked, overriding the default of no byte bound (kgo still bounds
// buffered records at 50,000). A produce that would go over blocks until
// space frees or its context ends.
func WithMaxBufferedBytes(n int) ProducerOpt {
	return func(c *producerConfig) {
		c.maxBuffered = n
		c.clientShaping = append(c.clientShaping, "WithMaxBufferedBytes")
	}
}

// WithLogger sets the logger for the Producer and its client (warnings
// and errors only), overriding the default of discarding logs.
func WithLogger(l *slog.Logger) ProducerOpt {
	return func(c *producerConfig) { c.logger = l }
}

// WithClientID sets the Kafka client id, overriding "surge-producer".
func WithClientID(id string) ProducerOpt {
	return func(c *producerConfig) {
		c.clientID = id
		c.clientShaping = append(c.clientShaping, "WithClientID")
	}
}

// WithClientOpts appends kgo options to the Producer's own client, after
// surge's, for settings surge does not name (TLS, SASL, timeouts). Options
// that weaken durability are refused by NewProducer.
func WithClientOpts(opts ...kgo.Opt) ProducerOpt {
	return func(c *producerConfig) {
		c.clientOpts = append(c.clientOpts, opts...)
		c.clientShaping = append(c.clientShaping, "WithClientOpts")
	}
}

// WithControlTopic names the control topic of the resize protocol that
// Producer.JoinResizes joins, overriding control.DefaultTopic
// ("surge-control").
func WithControlTopic(name string) ProducerOpt {
	return func(c *producerConfig) { c.controlTopic = name }
}

// validate checks the configuration once, in NewProducer.
func (c *producerConfig) validate() error {
	if c.client != nil {
		if len(c.clientShaping) > 0 {
			return fmt.Errorf("%s cannot be combined with WithClient", strings.Join(c.clientShaping, ", "))
		}
	} else if len(c.brokers) == 0 {
		return ErrNoBrokers
	}
	if c.topics.Orders == "" || c.topics.UserEvents == "" || c.topics.Coupons == "" {
		return fmt.Errorf("topics %+v: orders, user events and coupons topics must be named", c.topics)
	}
	if _, err := compressionCodec(c.compression); err != nil {
		return err
	}
	if c.linger < 0 {
		return fmt.Errorf("linger %v: must not be negative", c.linger)
	}
	if c.maxBuffered < 0 {
		return fmt.Errorf("max buffered bytes %d: must not be negative", c.maxBuffered)
	}
	return nil
}

// kgoOpts returns the options of the Producer's own client.
func (c *producerConfig) kgoOpts() []kgo.Opt {
	codec, _ := compressionCodec(c.compression)
	opts := ClientConfig{Brokers: c.brokers, ClientID: c.clientID, Logger: c.logger}.Opts()
	opts = append(opts,
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ProducerBatchCompression(codec, kgo.NoCompression()),
		kgo.ProducerLinger(c.linger),
	)
	if c.maxBuffered > 0 {
		opts = append(opts, kgo.MaxBufferedBytes(c.maxBuffered))
	}
	return append(opts, c.clientOpts...)
}

// compressionCodec maps a codec name to kgo's codec.
func compressionCodec(name string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(name) {
	case "none", "":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	default:
		return kgo.CompressionCodec{}, fmt.Errorf("compression %q: want none, gzip, snappy, lz4 or zstd", name)
	}
}

// checkDurable reports ErrNotDurable for a client that would not keep
// surge's no-loss promise.
func checkDurable(cl *kgo.Client) error {
	if acks, _ := cl.OptValue(kgo.RequiredAcks).(kgo.Acks); acks != kgo.AllISRAcks() {
		return fmt.Errorf("%w: acks is not all", ErrNotDurable)
	}
	if off, _ := cl.OptValue(kgo.DisableIdempotentWrite).(bool); off {
		return fmt.Errorf("%w: idempotent writes are disabled", ErrNotDurable)
	}
	return nil
}
