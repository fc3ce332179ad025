package deploy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/dispatch"
	"github.com/surgeio/surge/stream/gateway"
	"github.com/surgeio/surge/stream/lag"
	"github.com/surgeio/surge/stream/sink"
	"github.com/surgeio/surge/stream/triggers"
	"github.com/surgeio/surge/stream/triggers/rules"
)

// metricCatalog is every metric surge's commands serve, by name, with its
// label names (variable and constant).
type metricCatalog map[string][]string

var (
	catalogOnce sync.Once
	catalog     metricCatalog
	catalogErr  string
	// gatherers are the registries the catalogue was built from, for
	// TestMetricsPassPromtool.
	gatherers prometheus.Gatherers
)

// announced are metrics whose collectors this package cannot construct
// (not yet registered by a constructor): each must at least appear as a
// string literal in surge's non-test Go sources, with these labels.
var announced = map[string][]string{
	"surge_triggers_budget_remaining_ratio": {"campaign", "rule"},
	// cmd/surge's sums over a process's Kafka clients (kprom's own
	// buffered gauges are dropped there).
	"surge_buffered_produce_records": nil,
	"surge_buffered_produce_bytes":   nil,
	"surge_buffered_fetch_records":   nil,
	"surge_buffered_fetch_bytes":     nil,
}

// recorder is a Registerer that also keeps the descriptors registered
// through it.
type recorder struct {
	*prometheus.Registry
	mu    sync.Mutex
	descs []*prometheus.Desc
}

func (r *recorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	r.mu.Lock()
	for d := range ch {
		r.descs = append(r.descs, d)
	}
	r.mu.Unlock()
	return r.Registry.Register(c)
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

var (
	descName   = regexp.MustCompile(`fqName: "([^"]+)"`)
	descConst  = regexp.MustCompile(`constLabels: \{([^}]*)\}`)
	descVar    = regexp.MustCompile(`variableLabels: \{([^}]*)\}`)
	labelNameR = regexp.MustCompile(`(?:^|,)\s*([a-zA-Z_][a-zA-Z0-9_]*)`)
)

// add records a descriptor's name and labels from its String form, the
// only place client_golang exposes them.
func (c metricCatalog) add(d *prometheus.Desc) {
	s := d.String()
	m := descName.FindStringSubmatch(s)
	if m == nil {
		return
	}
	var labels []string
	for _, re := range []*regexp.Regexp{descConst, descVar} {
		if l := re.FindStringSubmatch(s); l != nil {
			for _, n := range labelNameR.FindAllStringSubmatch(l[1], -1) {
				labels = append(labels, n[1])
			}
		}
	}
	c[m[1]] = labels
}

// surgeMetrics builds the catalogue from the real collectors: the sink,
// a dispatcher, the triggers and a gateway are constructed against an
// in-process broker with a registry, a gateway answers one good and one
// bad request, and a Kafka client carries the kprom hooks the commands
// use. Metrics of announced are then looked up in the sources.
func surgeMetrics(t *testing.T) metricCatalog {
	t.Helper()
	catalogOnce.Do(func() { catalog, catalogErr = buildCatalog() })
	if catalogErr != "" {
		t.Fatalf("collect surge's metrics: %s", catalogErr)
	}
	return catalog
}

func buildCatalog() (metricCatalog, string) {
	c := make(metricCatalog)
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, stream.DefaultTopics().All()...))
	if err != nil {
		return nil, "start kfake: " + err.Error()
	}
	defer kc.Close()
	client := stream.ClientConfig{Brokers: kc.ListenAddrs(), ClientID: "deploy-test"}
	rec := &recorder{Registry: prometheus.NewRegistry()}

	// The sink's group client starts at New: give it no reachable broker,
	// since it has no ClickHouse behind it.
	nowhere := stream.ClientConfig{Brokers: []string{"127.0.0.1:1"}}
	s, err := sink.New(new(analytics.Conn), sink.WithClient(nowhere), sink.WithRegisterer(rec))
	if err != nil {
		return nil, "sink.New: " + err.Error()
	}
	_ = s // never run: its client is left to the broker's close
	if _, err := dispatch.New(dispatch.WithClient(client), dispatch.WithGroup("payment"),
		dispatch.WithHandler(dispatch.Simulations["payment"].Handler()), dispatch.WithRegisterer(rec)); err != nil {
		return nil, "dispatch.New: " + err.Error()
	}
	set, err := rules.Load(filepath.Join("rules", "holiday.yaml"))
	if err != nil {
		return nil, "load rules: " + err.Error()
	}
	tr, err := triggers.New(triggers.WithClient(client), triggers.WithRules(set), triggers.WithRegisterer(rec))
	if err != nil {
		return nil, "triggers.New: " + err.Error()
	}
	_ = tr // never run
	lagCl, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...))
	if err != nil {
		return nil, "kgo.NewClient: " + err.Error()
	}
	defer lagCl.Close()
	if err := lag.New(lagCl).Register(rec); err != nil {
		return nil, "register lag metrics: " + err.Error()
	}
	for _, d := range rec.descs {
		c.add(d)
	}

	// kprom, configured as cmd/surge's kafkaMetrics configures it.
	km := kprom.NewMetrics("surge", kprom.Registry(nil),
		kprom.FetchAndProduceDetail(kprom.ByNode, kprom.ByTopic, kprom.Records, kprom.UncompressedBytes))
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.WithHooks(km))
	if err != nil {
		return nil, "kgo.NewClient: " + err.Error()
	}
	kreg := prometheus.NewRegistry()
	if err := kreg.Register(km); err != nil {
		return nil, "register kprom: " + err.Error()
	}
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: stream.DefaultTopics().Orders, Value: []byte("x")}).FirstErr(); err != nil {
		return nil, "produce: " + err.Error()
	}
	descs := make(chan *prometheus.Desc)
	go func() { km.Describe(descs); close(descs) }()
	for d := range descs {
		if !strings.Contains(d.String(), `fqName: "surge_buffered_`) { // cmd/surge replaces these
			c.add(d)
		}
	}
	cl.Close()

	// The gateway takes a *prometheus.Registry, so its vectors are seen
	// by gathering after requests that touch each of them.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := stream.NewProducer(stream.WithBrokers(kc.ListenAddrs()...))
	if err != nil {
		return nil, "NewProducer: " + err.Error()
	}
	defer p.Close()
	greg := prometheus.NewRegistry()
	g, err := gateway.New(ctx, gateway.WithProducer(p), gateway.WithoutAuth(), gateway.WithRegistry(greg), gateway.WithIdempotencyTopic("", 0, 0))
	if err != nil {
		return nil, "gateway.New: " + err.Error()
	}
	order := `{"event_id":"e1","v":1,"order_id":"o1","user_id":"u1","items":[{"sku":"s","qty":1,"unit_price":100}],"amount":100,"currency":"EUR","priority":"normal","created_at":"2025-11-28T10:00:00Z"}`
	for _, body := range []string{order, `{"v":1}`} {
		req := httptest.NewRequest(http.MethodPost, "/v1/orders", strings.NewReader(body)).WithContext(ctx)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		g.ServeHTTP(w, req)
		_, _ = io.Copy(io.Discard, w.Result().Body)
	}
	mfs, err := greg.Gather()
	if err != nil {
		return nil, "gather gateway metrics: " + err.Error()
	}
	gatherers = prometheus.Gatherers{rec.Registry, greg, kreg}
	for _, mf := range mfs {
		var labels []string
		if len(mf.GetMetric()) > 0 {
			for _, l := range mf.GetMetric()[0].GetLabel() {
				labels = append(labels, l.GetName())
			}
		}
		c[mf.GetName()] = labels
	}

	src, err := goSources("..")
	if err != nil {
		return nil, "read Go sources: " + err.Error()
	}
	for name, labels := range announced {
		if strings.Contains(src, `"`+name+`"`) {
			c[name] = labels
		}
	}
	return c, ""
}

// goSources concatenates surge's non-test Go files.
func goSources(root string) (string, error) {
	var b strings.Builder
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		b.Write(data)
		return err
	})
	return b.String(), err
}

// TestMetricCatalog guards the catalogue the alert and dashboard tests
// check against: it must hold what each component registers.
func TestMetricCatalog(t *testing.T) {
	c := surgeMetrics(t)
	tests := []struct {
		name   string
		labels []string
	}{
		{"surge_sink_rows_written_total", []string{"table"}},
		{"surge_sink_freshness_seconds", nil},
		{"surge_dispatch_processed_total", []string{"group"}},
		{"surge_dispatch_commit_lag_records", []string{"group"}},
		{"surge_triggers_coupons_issued_total", []string{"campaign", "rule"}},
		{"surge_gateway_requests_total", []string{"code", "route"}},
		{"surge_gateway_rejected_total", []string{"reason"}},
		{"surge_gateway_records_total", []string{"kind", "result"}},
		{"surge_gateway_inflight_bytes", nil},
		{"surge_produce_bytes_total", []string{"node_id", "topic"}},
		{"surge_lag_seconds", []string{"group", "partition", "topic"}},
		{"surge_lag_group_status", []string{"group", "status"}},
		{"surge_buffered_produce_records", nil},
		{"surge_lag_consume_records_per_second", []string{"group", "topic"}},
	}
	for _, tt := range tests {
		got, ok := c[tt.name]
		if !ok {
			t.Errorf("%s: got no such metric, want it registered", tt.name)
			continue
		}
		if g := slices.Sorted(slices.Values(got)); !slices.Equal(g, tt.labels) && !(len(g) == 0 && tt.labels == nil) {
			t.Errorf("%s labels: got %v, want %v", tt.name, g, tt.labels)
		}
	}
	if _, ok := c["surge_no_such_metric"]; ok {
		t.Error("surge_no_such_metric: got it in the catalogue, want it absent")
	}
}
