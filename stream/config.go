package stream

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/surgeio/surge/schemas"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
)

// Topics names the pipeline's topics. The zero value names none; start from
// DefaultTopics and override the fields a deployment renames.
type Topics struct {
	// Orders carries orders and order status changes of normal priority.
	Orders string `json:"orders" mapstructure:"orders"`
	// OrdersPriority is the priority lane: orders (and their status
	// changes) with priority vip or urgent. Dispatchers drain it first.
	OrdersPriority string `json:"orders_priority" mapstructure:"orders_priority"`
	// UserEvents carries shoppers' page views, searches, cart changes.
	UserEvents string `json:"user_events" mapstructure:"user_events"`
	// Coupons carries coupons issued by campaign rules.
	Coupons string `json:"coupons" mapstructure:"coupons"`
	// DeadLetters carries records that could not be processed, with the
	// reason in their headers (see DeadLetter).
	DeadLetters string `json:"dead_letters" mapstructure:"dead_letters"`
}

// DefaultTopics returns the topic names surge uses unless configured
// otherwise: "orders", "user-events", "coupons" and "dead-letters".
func DefaultTopics() Topics {
	return Topics{
		Orders:         "orders",
		OrdersPriority: "orders-priority",
		UserEvents:     "user-events",
		Coupons:        "coupons",
		DeadLetters:    "dead-letters",
	}
}

// For returns the topic records of kind k go to: orders and order statuses
// share Orders (so one user's order and its status changes stay in one
// partition, in order), user events go to UserEvents and coupons to
// Coupons. It returns "" for a kind surge does not know.
func (t Topics) For(k schemas.Kind) string {
	switch k {
	case schemas.KindOrder, schemas.KindOrderStatus:
		return t.Orders
	case schemas.KindUserEvent:
		return t.UserEvents
	case schemas.KindCoupon:
		return t.Coupons
	default:
		return ""
	}
}

// Route returns the topic record r goes to: like For, except that orders and
// order status changes with priority vip or urgent go to OrdersPriority when
// it is set. An order and its status changes carry the same priority, so
// they travel in one lane, in order. Across lanes there is no order: a
// shopper's urgent order may be handled before the same shopper's earlier
// normal one.
func (t Topics) Route(r schemas.Record) string {
	switch v := r.(type) {
	case *schemas.Order:
		if v != nil && v.Priority.Urgent() && t.OrdersPriority != "" {
			return t.OrdersPriority
		}
	case *schemas.OrderStatus:
		if v != nil && v.Priority.Urgent() && t.OrdersPriority != "" {
			return t.OrdersPriority
		}
	}
	return t.For(r.Kind())
}

// All returns every topic name, data topics first and DeadLetters last,
// skipping empty names.
func (t Topics) All() []string {
	all := make([]string, 0, 4)
	for _, n := range [...]string{t.Orders, t.OrdersPriority, t.UserEvents, t.Coupons, t.DeadLetters} {
		if n != "" {
			all = append(all, n)
		}
	}
	return all
}

// Data returns the topics that carry events (all but DeadLetters), skipping
// empty names. Consumers of the whole pipeline, such as the sink, read
// these.
func (t Topics) Data() []string {
	data := make([]string, 0, 3)
	for _, n := range [...]string{t.Orders, t.OrdersPriority, t.UserEvents, t.Coupons} {
		if n != "" {
			data = append(data, n)
		}
	}
	return data
}

// ClientConfig is how surge connects to Kafka; every command builds its
// clients from one.
type ClientConfig struct {
	// Brokers are the seed brokers, host:port.
	Brokers []string
	// ClientID identifies the client to the brokers (logs, quotas); empty
	// keeps kgo's default "kgo".
	ClientID string
	// Logger receives the client's warnings and errors; nil discards them.
	Logger *slog.Logger
	// Security is the SASL and TLS settings; the zero value is plaintext
	// without authentication.
	Security Security
	// ExtraOpts are appended last, so they override anything above
	// (TLS, SASL, consumer or producer settings).
	ExtraOpts []kgo.Opt
}

// Opts returns the kgo options for c: seed brokers, client id, the logger
// bridged through kslog (capped at warn level, since kgo's info level
// logs every connection and metadata refresh), Security's TLS and SASL
// options, then ExtraOpts. Invalid Security settings (see
// Security.Validate, which NewClient and Ping run first) give a client
// whose every connection fails with the reason, never a plaintext one.
func (c ClientConfig) Opts() []kgo.Opt {
	opts := make([]kgo.Opt, 0, 5+len(c.ExtraOpts))
	if len(c.Brokers) > 0 {
		opts = append(opts, kgo.SeedBrokers(c.Brokers...))
	}
	if c.ClientID != "" {
		opts = append(opts, kgo.ClientID(c.ClientID))
	}
	if c.Logger != nil {
		opts = append(opts, kgo.WithLogger(kslog.New(atLeastWarn(c.Logger))))
	}
	if c.Security.Enabled() {
		sec, err := c.Security.Opts()
		if err != nil {
			sec = []kgo.Opt{failDialer(err)}
		}
		opts = append(opts, sec...)
	}
	return append(opts, c.ExtraOpts...)
}

// NewClient checks c.Security and returns a kgo client built from c.Opts()
// followed by opts.
func (c ClientConfig) NewClient(opts ...kgo.Opt) (*kgo.Client, error) {
	if err := c.Security.Validate(); err != nil {
		return nil, fmt.Errorf("kafka security settings: %w", err)
	}
	return kgo.NewClient(append(c.Opts(), opts...)...)
}

// atLeastWarn returns a logger that drops records below warn level.
func atLeastWarn(l *slog.Logger) *slog.Logger {
	return slog.New(minLevelHandler{l.Handler(), slog.LevelWarn})
}

// minLevelHandler drops records below min before they reach h.
type minLevelHandler struct {
	h   slog.Handler
	min slog.Level
}

func (m minLevelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.h.Enabled(ctx, l)
}

func (m minLevelHandler) Handle(ctx context.Context, r slog.Record) error {
	return m.h.Handle(ctx, r)
}

func (m minLevelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevelHandler{m.h.WithAttrs(as), m.min}
}

func (m minLevelHandler) WithGroup(name string) slog.Handler {
	return minLevelHandler{m.h.WithGroup(name), m.min}
}
