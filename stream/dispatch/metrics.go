package dispatch

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the group's Prometheus metrics, labelled group="<group>".
type metrics struct {
	processed    *counter
	failed       prometheus.Counter
	retried      prometheus.Counter
	parkedBehind prometheus.Counter
	deadLettered prometheus.Counter
	invalid      prometheus.Counter
	skipped      prometheus.Counter
	staleDropped *counter
	leaseLapses  *counter
	normalPaused prometheus.Counter
	inFlight     prometheus.Gauge
	latency      *histogram
	commitLag    prometheus.Gauge
	commits      prometheus.Counter
}

// counter wraps a prometheus counter with a readable value for Stats.
type counter struct {
	prometheus.Counter
	n atomic.Int64
}

func (c *counter) Inc() { c.n.Add(1); c.Counter.Inc() }

func (c *counter) add(n int64) {
	if n > 0 {
		c.n.Add(n)
		c.Counter.Add(float64(n))
	}
}

func newMetrics(group string, reg prometheus.Registerer) (*metrics, *statsCounters) {
	labels := prometheus.Labels{"group": group}
	ctr := func(name, help string) *counter {
		return &counter{Counter: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "surge", Subsystem: "dispatch", Name: name, Help: help, ConstLabels: labels})}
	}
	sc := &statsCounters{
		processed:    ctr("processed_total", "Records whose handler succeeded."),
		failed:       ctr("failed_total", "Handler calls that failed."),
		retried:      ctr("retried_total", "Failed records scheduled for another attempt."),
		parkedBehind: ctr("parked_behind_total", "Records parked in the retry topic behind an earlier failing record of their key."),
		deadLettered: ctr("dead_lettered_total", "Records written to the dead-letter topic."),
		invalid:      ctr("invalid_total", "Records that broke a schema rule: dead-lettered without reaching the handler (also counted in dead_lettered_total once written)."),
		skipped:      ctr("skipped_total", "Records skipped on assignment: the previous owner's commit records them as done, or the retry topic holds them."),
		normalPaused: ctr("normal_lane_paused_total", "Times the normal lane's fetching paused for the priority lane."),
		staleDropped: ctr("stale_dropped_total", "Records handed to a worker whose partition was lost or revoked before their handler call started: left to the new owner, not called (a paused instance's records of partitions now owned by another member)."),
		leaseLapses:  ctr("lease_lapses_total", "Times handler calls or writes waited because the group coordinator had not confirmed this member within its membership lease (a pause, a stall, a cut from the coordinator, a long rebalance)."),
		commits:      ctr("commits_total", "Offset commits."),
	}
	m := &metrics{
		processed: sc.processed, failed: sc.failed, retried: sc.retried, parkedBehind: sc.parkedBehind,
		deadLettered: sc.deadLettered, invalid: sc.invalid, skipped: sc.skipped, normalPaused: sc.normalPaused, commits: sc.commits,
		staleDropped: sc.staleDropped, leaseLapses: sc.leaseLapses,
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "surge", Subsystem: "dispatch",
			Name: "in_flight", Help: "Handlers running.", ConstLabels: labels}),
		latency: newHistogram(prometheus.NewDesc("surge_dispatch_handler_seconds", "Handler latency.", nil, labels),
			[]float64{.001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}),
		commitLag: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "surge", Subsystem: "dispatch",
			Name: "commit_lag_records", Help: "Records between the committed offsets and the high watermarks of the owned partitions.",
			ConstLabels: labels}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.processed, m.failed, m.retried, m.parkedBehind, m.deadLettered, m.invalid,
			m.skipped, m.normalPaused, m.commits, m.staleDropped, m.leaseLapses, m.inFlight, m.latency, m.commitLag} {
			if err := reg.Register(c); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !errors.As(err, &are) {
					panic(fmt.Sprintf("dispatch: register metrics: %v", err))
				}
			}
		}
	}
	return m, sc
}

// statsCounters keeps the counters Stats reads.
type statsCounters struct {
	processed, failed, retried, parkedBehind, deadLettered, invalid, skipped, normalPaused, commits *counter
	staleDropped, leaseLapses                                                                       *counter
}

// Stats are a dispatcher's counters since it started.
type Stats struct {
	Processed    int64 `json:"processed"`     // handler succeeded
	Failed       int64 `json:"failed"`        // handler calls that failed
	Retried      int64 `json:"retried"`       // failures scheduled for another attempt
	ParkedBehind int64 `json:"parked_behind"` // parked behind an earlier failing record of their key
	DeadLettered int64 `json:"dead_lettered"`
	Invalid      int64 `json:"invalid"`       // broke a schema rule: dead-lettered without reaching the handler
	Skipped      int64 `json:"skipped"`       // found already parked on assignment
	StaleDropped int64 `json:"stale_dropped"` // not called: the partition was lost or revoked first (fence.go)
	LeaseLapses  int64 `json:"lease_lapses"`  // membership lease lapsed with calls waiting (fence.go)
	Commits      int64 `json:"commits"`
}

func (s *statsCounters) snapshot() Stats {
	return Stats{
		Processed: s.processed.n.Load(), Failed: s.failed.n.Load(), Retried: s.retried.n.Load(),
		ParkedBehind: s.parkedBehind.n.Load(), DeadLettered: s.deadLettered.n.Load(), Invalid: s.invalid.n.Load(),
		Skipped: s.skipped.n.Load(), Commits: s.commits.n.Load(),
		StaleDropped: s.staleDropped.n.Load(), LeaseLapses: s.leaseLapses.n.Load(),
	}
}

// histogram is handler_seconds. The workers observe into batches of
// their own and add a batch at a time under its lock: a prometheus
// histogram's per-call atomic updates, shared by all workers, cost more
// than a no-op handler.
type histogram struct {
	desc   *prometheus.Desc
	bounds []float64       // upper bounds, ascending; +Inf implied
	limits []time.Duration // the bounds as durations

	mu     sync.Mutex
	counts []uint64 // per bucket, not cumulative; the last is +Inf
	n      uint64
	sum    float64
}

func newHistogram(desc *prometheus.Desc, bounds []float64) *histogram {
	h := &histogram{desc: desc, bounds: bounds, counts: make([]uint64, len(bounds)+1)}
	for _, b := range bounds {
		h.limits = append(h.limits, time.Duration(math.Round(b*float64(time.Second))))
	}
	return h
}

// Describe implements prometheus.Collector.
func (h *histogram) Describe(ch chan<- *prometheus.Desc) { ch <- h.desc }

// Collect implements prometheus.Collector.
func (h *histogram) Collect(ch chan<- prometheus.Metric) {
	buckets := make(map[float64]uint64, len(h.bounds))
	h.mu.Lock()
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i]
		buckets[b] = cum
	}
	n, sum := h.n, h.sum
	h.mu.Unlock()
	ch <- prometheus.MustNewConstHistogram(h.desc, n, sum, buckets)
}

// observations are a batch of observations not yet added.
type observations struct {
	counts []uint64
	n      uint64
	sum    time.Duration
}

func (h *histogram) batch() *observations {
	return &observations{counts: make([]uint64, len(h.bounds)+1)}
}

func (h *histogram) observe(o *observations, d time.Duration) {
	i := 0
	for i < len(h.limits) && d > h.limits[i] {
		i++
	}
	o.counts[i]++
	o.n++
	o.sum += d
}

// add adds o's observations and empties o.
func (h *histogram) add(o *observations) {
	if o.n == 0 {
		return
	}
	h.mu.Lock()
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum.Seconds()
	h.mu.Unlock()
	clear(o.counts)
	o.n, o.sum = 0, 0
}
