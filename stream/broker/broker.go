package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// clusterID is the cluster id a new data directory is stamped with; a
// persisted cluster keeps the id it was created with.
const clusterID = "surge"

// ErrDataDirLocked is returned by Start when another broker, in this or
// another process, already runs on the same data directory.
var ErrDataDirLocked = errors.New("data directory is in use by another broker")

// Broker is a running single-node Kafka-protocol broker.
type Broker struct {
	cluster *kfake.Cluster
	ln      *trackingListener
	own     *kgo.Client // the broker's own client, in process
	watch   *groupWatch
	addrs   []string
	unlock  func()
	dataDir string
	once    sync.Once
}

// Start starts a broker and returns once it accepts connections. ctx bounds
// start-up only (opening and loading the data directory); the broker then
// runs until Close.
func Start(ctx context.Context, opts ...Opt) (*Broker, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("start broker: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start broker: %w", err)
	}
	sec, err := cfg.securityOpts()
	if err != nil {
		return nil, fmt.Errorf("start broker: %w", err)
	}

	unlock := func() {}
	if cfg.dataDir != "" {
		if err := os.MkdirAll(cfg.dataDir, 0o755); err != nil {
			return nil, fmt.Errorf("start broker: create data dir: %w", err)
		}
		u, err := lockDir(cfg.dataDir)
		if err != nil {
			return nil, fmt.Errorf("start broker on %s: %w", cfg.dataDir, err)
		}
		unlock = u
		// Users come from the options on every start; a file saved by
		// an earlier run would override them (and holds PLAIN
		// passwords in clear).
		if err := removeSASLState(cfg.dataDir); err != nil {
			unlock()
			return nil, fmt.Errorf("start broker: %w", err)
		}
	}

	raw, err := listen(cfg.addr, cfg.advertised)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("start broker: listen on %s: %w", cfg.addr, err)
	}
	if sec.tls != nil {
		raw = tls.NewListener(raw, sec.tls)
	}
	// The group watch (groups.go) sees each connection's waiting group
	// requests and acts through the broker's own client, which reaches
	// the broker in process.
	var watch *groupWatch
	ln := newTrackingListener(raw, func(os []orphan) { watch.orphaned(os) })
	own, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(ln.Addr().String()),
		kgo.Dialer(ln.dialInternal),
		kgo.ClientID("surge-broker"),
	}, sec.internal...)...)
	if err != nil {
		ln.Close()
		unlock()
		return nil, fmt.Errorf("start broker: own client: %w", err)
	}
	watch = newGroupWatch(own, ln, cfg.logger)
	var handedOut bool
	listenFn := func(string, string) (net.Listener, error) {
		// kfake asks for 127.0.0.1:<port>; we hand it the listener
		// already bound to the configured host instead. One broker
		// node means exactly one call.
		if handedOut {
			return nil, errors.New("broker supports a single node")
		}
		handedOut = true
		return ln, nil
	}

	kopts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ListenFn(listenFn),
		kfake.ClusterID(clusterID),
		kfake.DefaultNumPartitions(cfg.partitions),
	}
	if cfg.autoCreate {
		kopts = append(kopts, kfake.AllowAutoTopicCreation())
	}
	if cfg.dataDir != "" {
		kopts = append(kopts, kfake.DataDir(cfg.dataDir))
		if cfg.syncWrites {
			kopts = append(kopts, kfake.SyncWrites())
		}
	}
	if cfg.logger != nil {
		kopts = append(kopts, kfake.WithLogger(newLogger(cfg.logger)))
	}
	if len(cfg.brokerCfgs) > 0 {
		kopts = append(kopts, kfake.BrokerConfigs(cfg.brokerCfgs))
	}
	kopts = append(kopts, sec.kfake...)

	c, err := kfake.NewCluster(kopts...)
	if err != nil {
		own.Close()
		ln.Close()
		unlock()
		return nil, fmt.Errorf("start broker: %w", err)
	}
	if cfg.autoCreate {
		guardAutoCreate(c)
	}
	watch.start(c)
	b := &Broker{
		cluster: c,
		ln:      ln,
		own:     own,
		watch:   watch,
		addrs:   c.ListenAddrs(),
		unlock:  unlock,
		dataDir: cfg.dataDir,
	}
	if cfg.logger != nil {
		cfg.logger.LogAttrs(ctx, slog.LevelDebug, "broker started",
			slog.Any("addrs", b.addrs), slog.String("data_dir", cfg.dataDir))
	}
	return b, nil
}

// Addrs returns the host:port clients should use as seed brokers.
func (b *Broker) Addrs() []string {
	return append([]string(nil), b.addrs...)
}

// Close stops accepting connections, persists the broker's state to its
// data directory (if any) and releases the directory. It is safe to call
// more than once and from several goroutines.
func (b *Broker) Close() {
	b.once.Do(func() {
		// Connections closed by the shutdown leave no orphans: the
		// members are saved with the group state and time out after
		// a restart if they do not come back.
		b.ln.quiet.Store(true)
		b.watch.stop()
		b.own.Close()
		b.cluster.Close()
		if b.dataDir != "" {
			_ = removeSASLState(b.dataDir)
		}
		b.unlock()
	})
}

// listen binds addr. When advertised is set, or addr's host is a wildcard,
// the returned listener reports the address clients should dial, because
// the broker advertises its listener's address in metadata.
func listen(addr, advertised string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if advertised == "" {
		host, _, _ := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
			return ln, nil
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		advertised = net.JoinHostPort("127.0.0.1", port)
	}
	return advertisedListener{ln, hostPort(advertised)}, nil
}

// advertisedListener is a listener whose Addr is the address clients dial.
type advertisedListener struct {
	net.Listener
	addr hostPort
}

func (l advertisedListener) Addr() net.Addr { return l.addr }

// hostPort is a net.Addr kept as written, so that a host name is advertised
// as a name rather than resolved.
type hostPort string

func (hostPort) Network() string  { return "tcp" }
func (h hostPort) String() string { return string(h) }

// slogLogger bridges the broker's logger to slog. Only warnings and errors
// are forwarded: the broker's info level logs every request.
type slogLogger struct {
	l *slog.Logger
}

func newLogger(l *slog.Logger) kfake.Logger {
	return slogLogger{l.With(slog.String("component", "broker"))}
}

func (s slogLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	var lvl slog.Level
	switch level {
	case kfake.LogLevelError:
		lvl = slog.LevelError
	case kfake.LogLevelWarn:
		lvl = slog.LevelWarn
	default:
		return
	}
	ctx := context.Background()
	if !s.l.Enabled(ctx, lvl) {
		return
	}
	s.l.Log(ctx, lvl, fmt.Sprintf(format, args...))
}
