package gateway

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/surgeio/surge/schemas"
)

// metrics are the gateway's Prometheus metrics:
//
//	surge_gateway_requests_total{route,code}       requests answered
//	surge_gateway_request_seconds{route}           time to answer (histogram)
//	surge_gateway_rejected_total{reason}           refusals: one per refused request, and per refused or failed batch item
//	surge_gateway_records_total{kind,result}       records acknowledged (result="accepted") or failed by Kafka
//	surge_gateway_producer_buffered_records        records buffered in the producer, not yet acknowledged
//	surge_gateway_producer_buffered_bytes          their bytes
//	surge_gateway_inflight_bytes                   bytes admitted toward Kafka and not yet answered (bounded)
//	surge_gateway_idempotency_keys                 idempotency keys held in memory
//	surge_gateway_idempotency_evicted_total        keys dropped for room before their window ended
//	surge_gateway_idempotency_write_failures_total results not written to the idempotency topic
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	rejected *prometheus.CounterVec
	records  *prometheus.CounterVec
	handler  http.Handler

	recordCounters [numKinds][2]prometheus.Counter // records by kind, failed/accepted
}

func newMetrics(reg *prometheus.Registry, g *Gateway) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "surge_gateway_requests_total",
			Help: "HTTP requests answered by the gateway, by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "surge_gateway_request_seconds",
			Help:    "Time from receiving a request to answering it, by route.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "surge_gateway_rejected_total",
			Help: "Refused requests (and refused or failed batch items), by reason.",
		}, []string{"reason"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "surge_gateway_records_total",
			Help: "Records Kafka acknowledged (accepted) or failed, by kind.",
		}, []string{"kind", "result"}),
	}
	gauges := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "surge_gateway_producer_buffered_records",
			Help: "Records buffered in the gateway's producer and not yet acknowledged by Kafka.",
		}, func() float64 { n, _ := g.p.Buffered(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "surge_gateway_producer_buffered_bytes",
			Help: "Bytes of the records buffered in the gateway's producer.",
		}, func() float64 { _, b := g.p.Buffered(); return float64(b) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "surge_gateway_inflight_bytes",
			Help: "Request bytes admitted toward Kafka and not yet answered; bounded by the max in-flight bytes.",
		}, func() float64 { return float64(g.inflight.cur.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "surge_gateway_idempotency_keys",
			Help: "Idempotency keys whose results are held in memory.",
		}, func() float64 { return float64(g.idem.len()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "surge_gateway_idempotency_evicted_total",
			Help: "Idempotency keys dropped for room before their window ended.",
		}, func() float64 {
			g.idem.mu.Lock()
			defer g.idem.mu.Unlock()
			return float64(g.idem.evicted)
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "surge_gateway_idempotency_write_failures_total",
			Help: "Idempotency results that could not be written to the idempotency topic (kept in memory only).",
		}, func() float64 {
			if g.ilog == nil {
				return 0
			}
			return float64(g.ilog.failed.Load() + g.ilog.dropped.Load())
		}),
	}
	for _, c := range append([]prometheus.Collector{m.requests, m.latency, m.rejected, m.records}, gauges...) {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register gateway metrics: %w", err)
		}
	}
	for k, kind := range kindNames {
		m.recordCounters[k][0] = m.records.WithLabelValues(string(kind), "failed")
		m.recordCounters[k][1] = m.records.WithLabelValues(string(kind), "accepted")
	}
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return m, nil
}

// observe counts an answered request.
func (m *metrics) observe(route string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, codeLabel(code)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) reject(reason string) { m.rejected.WithLabelValues(reason).Inc() }

func (m *metrics) rejectN(reason string, n int) { m.rejected.WithLabelValues(reason).Add(float64(n)) }

// numKinds is the number of record kinds the records counters are kept for.
const numKinds = 4

var kindNames = [numKinds]schemas.Kind{schemas.KindOrder, schemas.KindOrderStatus, schemas.KindUserEvent, schemas.KindCoupon}

func kindIndex(k schemas.Kind) int {
	switch k {
	case schemas.KindOrderStatus:
		return 1
	case schemas.KindUserEvent:
		return 2
	case schemas.KindCoupon:
		return 3
	}
	return 0
}

// addRecords adds one request's answered records, by kind and
// failed (0) or accepted (1).
func (m *metrics) addRecords(counts *[numKinds][2]int64) {
	for k := range counts {
		for ok, n := range counts[k] {
			if n > 0 {
				m.recordCounters[k][ok].Add(float64(n))
			}
		}
	}
}

var codeLabels = map[int]string{}

func init() {
	for c := 100; c < 600; c++ {
		codeLabels[c] = strconv.Itoa(c)
	}
}

func codeLabel(c int) string {
	if s, ok := codeLabels[c]; ok {
		return s
	}
	return strconv.Itoa(c)
}
