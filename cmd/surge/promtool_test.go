package main

import (
	"context"

	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/stream"
)

// TestCommandsMetricsPassPromtool runs every command that serves /metrics
// as its own process against one broker (and ClickHouse for sink and up),
// scrapes its /metrics once the command's own families are there (ones it
// registers at start, so that no subtest waits for another's traffic), and
// runs `promtool check metrics` on it: counters end in _total, gauges do
// not, names carry their units.
func TestCommandsMetricsPassPromtool(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the surge binary; runs without -short (and always in CI)")
	}
	addrs := testenv.KafkaPartitions(t, 2, stream.DefaultTopics().All()...)
	brokers := strings.Join(addrs, ",")
	// A group with a committed offset, so that surge lag has one to report
	// from its first sample.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	var offsets kadm.Offsets
	offsets.Add(kadm.Offset{Topic: stream.DefaultTopics().Orders, Partition: 0, At: 0, LeaderEpoch: -1})
	if err := kadm.NewClient(cl).CommitAllOffsets(context.Background(), "promtool-lag", offsets); err != nil {
		t.Fatalf("commit the lag group's offset: %v", err)
	}
	cl.Close()
	ch := testenv.ClickHouse(t).Addr()
	rules, err := filepath.Abs("../../deploy/rules/holiday.yaml")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	type command struct {
		name string
		args func(metrics string) []string
		want []string // families that must be served before the check
		poke func(metrics string)
	}
	gatewayAddr := freeAddr()
	commands := []command{
		{"broker", func(m string) []string {
			return []string{"broker", "--addr", freeAddr(), "--data-dir", t.TempDir(), "--metrics-addr", m}
		}, []string{"go_goroutines"}, nil},
		{"produce", func(m string) []string {
			return []string{"produce", "--brokers", brokers, "--rate", "200", "--duration", "60s", "--metrics-addr", m}
		}, []string{"surge_produce_records_total", "surge_buffered_produce_records"}, nil},
		{"dispatch", func(m string) []string {
			return []string{"dispatch", "--brokers", brokers, "--group", "promtool", "--simulate", "payment", "--metrics-addr", m}
		}, []string{"surge_dispatch_processed_total", "surge_dispatch_invalid_total", "surge_buffered_fetch_records"}, nil},
		{"triggers", func(m string) []string {
			return []string{"triggers", "--brokers", brokers, "--rules", rules, "--metrics-addr", m}
		}, []string{"surge_triggers_records_total", "surge_triggers_users"}, nil},
		{"lag", func(m string) []string {
			return []string{"lag", "--brokers", brokers, "--watch", "--interval", "1s", "--metrics-addr", m}
		}, []string{"surge_lag_records", "surge_lag_consume_records_per_second"}, nil},
		{"sink", func(m string) []string {
			return []string{"sink", "--brokers", brokers, "--clickhouse", ch, "--clickhouse-database", "promtool_sink", "--metrics-addr", m}
		}, []string{"surge_sink_write_errors_total", "surge_sink_freshness_seconds"}, nil},
		{"gateway", func(string) []string {
			return []string{"gateway", "--brokers", brokers, "--no-auth", "--addr", gatewayAddr}
		}, []string{"surge_gateway_requests_total", "surge_gateway_rejected_total"}, func(string) {
			for _, body := range []string{"{}", "not json"} {
				if res, err := http.Post("http://"+gatewayAddr+"/v1/orders", "application/json", strings.NewReader(body)); err == nil {
					res.Body.Close()
				}
			}
		}},
		{"up", func(m string) []string {
			return []string{"up", "--brokers", brokers, "--clickhouse", ch, "--clickhouse-database", "promtool_up", "--duration", "60s",
				"--rate", "100", "--no-progress", "--metrics-addr", m}
		}, []string{"surge_dispatch_processed_total", "surge_sink_write_errors_total", "surge_triggers_records_total"}, nil},
	}
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			metrics := freeAddr()
			if c.name == "gateway" {
				metrics = gatewayAddr
			}
			logf, err := os.Create(filepath.Join(t.TempDir(), c.name+".log"))
			if err != nil {
				t.Fatal(err)
			}
			cmd := testenv.StartSurge(t, logf, c.args(metrics)...)
			defer func() {
				_ = cmd.Process.Signal(syscall.SIGTERM)
				done := make(chan struct{})
				go func() { _ = cmd.Wait(); close(done) }() // ends when the process exits
				select {
				case <-done:
				case <-time.After(20 * time.Second):
					_ = cmd.Process.Kill()
					<-done
				}
				if t.Failed() {
					b, _ := os.ReadFile(logf.Name())
					t.Logf("surge %s log:\n%s", c.name, b)
				}
			}()
			body := scrapeUntil(t, metrics, c.want, c.poke)
			testenv.Promtool(t, "surge "+c.name+"'s /metrics", body)
		})
	}
}

// scrapeUntil GETs http://addr/metrics until it serves every family in
// want (calling poke before each try), within two minutes.
func scrapeUntil(t *testing.T, addr string, want []string, poke func(string)) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var body []byte
	var missing []string
	for ctx.Err() == nil {
		if poke != nil {
			poke(addr)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			body, _ = io.ReadAll(res.Body)
			res.Body.Close()
			missing = missing[:0]
			for _, w := range want {
				if !strings.Contains(string(body), "\n# TYPE "+w+" ") {
					missing = append(missing, w)
				}
			}
			if len(missing) == 0 {
				return body
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("%s/metrics never served %v:\n%.3000s", addr, missing, body)
	return nil
}
