package stream

import (
	"context"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
)

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
	// ExtraOpts are appended last, so they override anything above
	// (TLS, SASL, consumer or producer settings).
	ExtraOpts []kgo.Opt
}

// Opts returns the kgo options for c: seed brokers, client id, the logger
// bridged through kslog (capped at warn level, since kgo's info level
// logs every connection and metadata refresh), then ExtraOpts.
func (c ClientConfig) Opts() []kgo.Opt {
	opts := make([]kgo.Opt, 0, 3+len(c.ExtraOpts))
	if len(c.Brokers) > 0 {
		opts = append(opts, kgo.SeedBrokers(c.Brokers...))
	}
	if c.ClientID != "" {
		opts = append(opts, kgo.ClientID(c.ClientID))
	}
	if c.Logger != nil {
		opts = append(opts, kgo.WithLogger(kslog.New(atLeastWarn(c.Logger))))
	}
	return append(opts, c.ExtraOpts...)
}

// NewClient returns a kgo client built from c.Opts() followed by opts.
func (c ClientConfig) NewClient(opts ...kgo.Opt) (*kgo.Client, error) {
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
