package lag

import (
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Defaults New uses unless an option overrides them.
const (
	DefaultWindow         = 10
	DefaultMinSamples     = 3
	DefaultLaggingSeconds = 30 * time.Second
	DefaultProbeTimeout   = 5 * time.Second
)

// Opt configures a Monitor.
type Opt func(*config)

type config struct {
	groups         []string
	window         int
	minSamples     int
	laggingSeconds time.Duration
	probeTimeout   time.Duration
	now            func() time.Time
	logger         *slog.Logger
}

// WithGroups limits the monitor to the named groups. The default is every
// group the cluster lists, at each sample.
func WithGroups(groups ...string) Opt {
	return func(c *config) { c.groups = append([]string(nil), groups...) }
}

// WithWindow sets how many samples per group the status rules look at,
// overriding DefaultWindow. Values below 2 are raised to 2.
func WithWindow(k int) Opt {
	return func(c *config) { c.window = max(k, 2) }
}

// WithMinSamples sets how many samples the window needs before the stalled
// and growing-lag rules apply, overriding DefaultMinSamples. Values below 2
// are raised to 2; values above the window are lowered to it.
func WithMinSamples(n int) Opt {
	return func(c *config) { c.minSamples = max(n, 2) }
}

// WithLaggingSeconds sets the lag in seconds above which a partition is
// lagging, overriding DefaultLaggingSeconds. Zero or less turns the rule
// off.
func WithLaggingSeconds(d time.Duration) Opt {
	return func(c *config) { c.laggingSeconds = d }
}

// WithProbeTimeout bounds the time one sample spends reading the oldest
// unconsumed records' timestamps, overriding DefaultProbeTimeout.
// Partitions not read in time get LagSeconds -1 and an error.
func WithProbeTimeout(d time.Duration) Opt {
	return func(c *config) {
		if d > 0 {
			c.probeTimeout = d
		}
	}
}

// WithClock sets the clock samples are timed with, overriding time.Now.
// Lag seconds and rates are measured with it.
func WithClock(now func() time.Time) Opt {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithLogger sets the logger for warnings about groups and partitions that
// could not be read, overriding a logger that discards everything.
func WithLogger(l *slog.Logger) Opt {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// Monitor samples consumer group lag and keeps the window the statuses are
// judged over. Its methods are safe for concurrent use; samples are taken
// one at a time.
type Monitor struct {
	cl  *kgo.Client
	adm *kadm.Client
	cfg config

	mu      sync.Mutex // held for a whole Sample
	history map[string]*window
	cache   map[probeKey]probeResult

	lastMu sync.RWMutex
	last   Snapshot
	have   bool
}

// New returns a monitor that reads through cl. The client is not closed by
// the monitor; it needs no consumer options (no group is joined).
func New(cl *kgo.Client, opts ...Opt) *Monitor {
	cfg := config{
		window:         DefaultWindow,
		minSamples:     DefaultMinSamples,
		laggingSeconds: DefaultLaggingSeconds,
		probeTimeout:   DefaultProbeTimeout,
		now:            time.Now,
		logger:         slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.minSamples = min(cfg.minSamples, cfg.window)
	return &Monitor{
		cl:      cl,
		adm:     kadm.NewClient(cl),
		cfg:     cfg,
		history: make(map[string]*window),
		cache:   make(map[probeKey]probeResult),
	}
}

// Last returns the most recent snapshot and whether there is one yet.
func (m *Monitor) Last() (Snapshot, bool) {
	m.lastMu.RLock()
	defer m.lastMu.RUnlock()
	return m.last, m.have
}
