package broker

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
)

// Opt configures a Broker started with Start.
type Opt func(*config)

type config struct {
	addr       string
	advertised string
	dataDir    string
	partitions int
	autoCreate bool
	syncWrites bool
	logger     *slog.Logger
	brokerCfgs map[string]string
	sasl       []saslUser
	tls        *tls.Config
	tlsFiles   *tlsFiles
}

func defaultConfig() config {
	return config{
		addr:       "127.0.0.1:0",
		partitions: 8,
		autoCreate: true,
	}
}

// WithAddr sets the host:port the broker listens on, overriding the default
// "127.0.0.1:0" (loopback, any free port). The host part is honoured: use
// "0.0.0.0:9092" to accept connections from other machines, in which case
// clients are told to reconnect to 127.0.0.1 unless WithAdvertisedAddr says
// otherwise.
func WithAddr(addr string) Opt {
	return func(c *config) { c.addr = addr }
}

// WithAdvertisedAddr sets the host:port the broker tells clients to connect
// to in metadata responses, overriding the default of its listen address (or
// 127.0.0.1 with the listen port, when listening on a wildcard address).
func WithAdvertisedAddr(addr string) Opt {
	return func(c *config) { c.advertised = addr }
}

// WithDataDir persists the broker's topics, records, consumer-group offsets
// and producer state under dir, overriding the in-memory default. A broker
// started again on the same dir continues where the last one stopped. The
// directory is created if needed and locked while the broker runs.
func WithDataDir(dir string) Opt {
	return func(c *config) { c.dataDir = dir }
}

// WithPartitions sets the partition count of auto-created topics and of
// CreateTopics requests that ask for the broker default (-1), overriding the
// default 8.
func WithPartitions(n int) Opt {
	return func(c *config) { c.partitions = n }
}

// WithAutoCreateTopics sets whether a client's metadata request may create
// a missing topic, overriding the default true (Kafka's own default).
func WithAutoCreateTopics(on bool) Opt {
	return func(c *config) { c.autoCreate = on }
}

// WithSyncWrites makes every produced batch fsync'd before it is acked,
// overriding the default of relying on the page cache between segment rolls
// (Kafka's default too). Only meaningful with WithDataDir.
func WithSyncWrites(on bool) Opt {
	return func(c *config) { c.syncWrites = on }
}

// WithLogger sends the broker's warnings and errors to l, overriding the
// default of discarding them.
func WithLogger(l *slog.Logger) Opt {
	return func(c *config) { c.logger = l }
}

// WithBrokerConfigs sets broker-level configs such as "message.max.bytes"
// or "log.retention.ms", overriding the broker defaults. State persisted in
// the data dir by an earlier run takes precedence.
func WithBrokerConfigs(cfgs map[string]string) Opt {
	return func(c *config) {
		if c.brokerCfgs == nil {
			c.brokerCfgs = make(map[string]string, len(cfgs))
		}
		for k, v := range cfgs {
			c.brokerCfgs[k] = v
		}
	}
}

// validate checks the configuration once, in Start.
func (c *config) validate() error {
	if _, _, err := net.SplitHostPort(c.addr); err != nil {
		return fmt.Errorf("listen address %q: %w", c.addr, err)
	}
	if c.advertised != "" {
		if _, _, err := net.SplitHostPort(c.advertised); err != nil {
			return fmt.Errorf("advertised address %q: %w", c.advertised, err)
		}
	}
	if c.partitions < 1 {
		return fmt.Errorf("default partitions %d: must be at least 1", c.partitions)
	}
	return nil
}
