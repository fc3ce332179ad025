package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/internal/testenv"
)

// TestLongRunningCommandsServeMetrics: every command that runs until
// stopped can serve Prometheus metrics (the gateway serves /metrics on its
// own HTTP port).
func TestLongRunningCommandsServeMetrics(t *testing.T) {
	root := newRootCmd()
	for _, path := range [][]string{{"broker"}, {"sink"}, {"dispatch"}, {"triggers"}, {"produce"}, {"up"}, {"lag"}} {
		cmd, _, err := root.Find(path)
		if err != nil {
			t.Fatalf("surge %s: %v", strings.Join(path, " "), err)
		}
		if cmd.Flags().Lookup("metrics-addr") == nil {
			t.Errorf("surge %s has no --metrics-addr", strings.Join(path, " "))
		}
	}
}

// TestKafkaMetricsAcrossClients: the kprom hooks are shared by every client
// of a process (a second client must not panic on registration) and the
// produce counters add up what the clients wrote.
func TestKafkaMetricsAcrossClients(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "m"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reg := newRegistry()
	hooks := kafkaMetrics(reg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 2 {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), hooks)
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "m", Value: []byte("x")}).FirstErr(); err != nil {
				t.Fatalf("client %d: %v", i, err)
			}
		}
		cl.Close()
	}
	if got := counterSum(t, reg, "surge_produce_records_total"); got != 10 {
		t.Errorf("surge_produce_records_total: got %v, want 10 (5 from each client)", got)
	}
	// And it is served.
	addr := testenv.FreeAddr(t)
	a := &app{logger: slog.New(slog.DiscardHandler)}
	if err := a.serveMetrics(ctx, addr, reg); err != nil {
		t.Fatal(err)
	}
	var body []byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			continue
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		break
	}
	if !strings.Contains(string(body), "surge_produce_records_total") {
		t.Errorf("/metrics does not serve surge_produce_records_total:\n%.500s", body)
	}
}

func counterSum(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
