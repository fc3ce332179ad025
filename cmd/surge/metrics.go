package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
)

// newRegistry returns a registry with the Go and process collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// serveMetrics serves /metrics on addr until ctx is done. An empty addr
// serves nothing.
func (a *app) serveMetrics(ctx context.Context, addr string, reg *prometheus.Registry) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%w: --metrics-addr %s: %v", errUsage, addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	a.logger.Info("serving metrics", "addr", "http://"+ln.Addr().String()+"/metrics")
	go func() { // ended by Shutdown when ctx is done
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.logger.Warn("metrics server stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return nil
}

// kafkaMetrics returns the kgo option that counts a command's Kafka client
// traffic in reg with franz-go's kprom plugin, under the namespace "surge":
// surge_connects_total, surge_connect_errors_total, surge_disconnects_total,
// surge_write_bytes_total, surge_write_errors_total, surge_read_bytes_total,
// surge_read_errors_total (by node_id), surge_produce_bytes_total,
// surge_produce_records_total, surge_fetch_bytes_total,
// surge_fetch_records_total (by node_id and topic), and the gauges
// surge_buffered_produce_records, surge_buffered_produce_bytes,
// surge_buffered_fetch_records and surge_buffered_fetch_bytes (gauges: no
// _total suffix, unlike kprom's own names for them, which are dropped).
// Their full names are written out so that deploy's metric catalogue finds
// them in the sources.
//
// Append it to a command's stream.ClientConfig.ExtraOpts once: every client
// built from that config shares the counters (a process's Kafka traffic,
// summed over its clients), and the buffered gauges sum over the clients
// that are open. kprom alone registers its collectors per client and panics
// on a command's second client; this wrapper registers them once.
func kafkaMetrics(reg *prometheus.Registry) kgo.Opt {
	m := &kafkaClientMetrics{
		Metrics: kprom.NewMetrics("surge",
			kprom.Registry(nil), // collected through m, registered once below
			kprom.FetchAndProduceDetail(kprom.ByNode, kprom.ByTopic, kprom.Records, kprom.UncompressedBytes),
		),
		clients: make(map[*kgo.Client]struct{}),
	}
	gauge := func(name, help string, f func(*kgo.Client) int64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			m.mu.Lock()
			defer m.mu.Unlock()
			var n int64
			for cl := range m.clients {
				n += f(cl)
			}
			return float64(n)
		})
	}
	reg.MustRegister(m,
		gauge("surge_buffered_produce_records", "Records buffered in the process's Kafka clients, not yet produced.", (*kgo.Client).BufferedProduceRecords),
		gauge("surge_buffered_produce_bytes", "Bytes of the records buffered in the process's Kafka clients, not yet produced.", (*kgo.Client).BufferedProduceBytes),
		gauge("surge_buffered_fetch_records", "Records fetched by the process's Kafka clients, not yet polled.", (*kgo.Client).BufferedFetchRecords),
		gauge("surge_buffered_fetch_bytes", "Bytes of the records fetched by the process's Kafka clients, not yet polled.", (*kgo.Client).BufferedFetchBytes),
	)
	return kgo.WithHooks(m)
}

// kafkaClientMetrics shares one kprom.Metrics between all the clients of a
// process. Its broker, produce and fetch hooks are kprom's (promoted from
// the embedded Metrics); it creates kprom's vectors on the first client only
// and replaces kprom's buffered gauges, which would read that first client
// alone, by sums over the open clients.
type kafkaClientMetrics struct {
	*kprom.Metrics
	mu      sync.Mutex
	ready   bool // kprom's vectors exist; they never change after
	clients map[*kgo.Client]struct{}
}

// OnNewClient implements kgo.HookNewClient.
func (m *kafkaClientMetrics) OnNewClient(cl *kgo.Client) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.ready {
		m.Metrics.OnNewClient(cl)
		m.ready = true
	}
	m.clients[cl] = struct{}{}
}

// OnClientClosed implements kgo.HookClientClosed.
func (m *kafkaClientMetrics) OnClientClosed(cl *kgo.Client) {
	m.mu.Lock()
	delete(m.clients, cl)
	m.mu.Unlock()
}

// Describe sends nothing: the vectors appear with the first client, so the
// collector is unchecked.
func (m *kafkaClientMetrics) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector: kprom's metrics but its buffered
// gauges.
func (m *kafkaClientMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	ready := m.ready
	m.mu.Unlock()
	if !ready {
		return
	}
	all := make(chan prometheus.Metric)
	go func() { // ended by close after kprom's Collect returns
		m.Metrics.Collect(all)
		close(all)
	}()
	for metric := range all {
		if !strings.Contains(metric.Desc().String(), `fqName: "surge_buffered_`) {
			ch <- metric
		}
	}
}
