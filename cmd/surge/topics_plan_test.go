package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/plan"
)

func TestTopicsPlanGivenCapacity(t *testing.T) {
	t.Chdir(t.TempDir())
	topics := stream.DefaultTopics()
	brokers := testenv.KafkaPartitions(t, 8, topics.Orders, topics.UserEvents)
	out, _, err := run(t, "topics", "plan", "--brokers", strings.Join(brokers, ","),
		"--forecast", "orders=20000/s,user-events=150k/s@250B", "--partition-capacity", "9500/s", "--output", "json")
	if err != nil {
		t.Fatalf("topics plan: %v\n%s", err, out)
	}
	var p plan.Plan
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if p.Capacity.Source != plan.SourceGiven || p.Headroom != 2 {
		t.Errorf("got capacity source %q, headroom %v; want given, 2", p.Capacity.Source, p.Headroom)
	}
	orders, _ := p.Topic("orders")
	if orders.Partitions != 8 || orders.Action != plan.ActionKeep ||
		!strings.Contains(orders.Arithmetic, "20000 rec/s × 2.0 headroom / 9500 rec/s per partition = 4.21 → 5") {
		t.Errorf("orders: got %+v, want keep 8 with the arithmetic", orders)
	}
	// 150000 × 2 / 9500 = 31.6 → 32, a multiple of 8.
	if ue, _ := p.Topic("user-events"); ue.Partitions != 32 || ue.Action != plan.ActionGrow {
		t.Errorf("user-events: got %d partitions (%s), want 32 (grow)", ue.Partitions, ue.Action)
	}

	out, _, err = run(t, "topics", "plan", "--brokers", strings.Join(brokers, ","),
		"--forecast", "orders=20000/s", "--partition-capacity", "9500/s")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"capacity (given)", "--partition-capacity 9500/s", "orders: 20000 rec/s × 2.0 headroom", "keep"} {
		if !strings.Contains(out, want) {
			t.Errorf("table output lacks %q:\n%s", want, out)
		}
	}
}

func TestTopicsPlanProbe(t *testing.T) {
	t.Chdir(t.TempDir())
	brokers := testenv.KafkaPartitions(t, 4, "orders")
	out, stderr, err := run(t, "topics", "plan", "--brokers", strings.Join(brokers, ","),
		"--forecast", "orders=20000/s@300B", "--probe-duration", "300ms")
	if err != nil {
		t.Fatalf("topics plan with a probe: %v\n%s", err, stderr)
	}
	for _, want := range []string{"capacity (measured by a probe)", "surge-probe-", "acks=all", "orders: 20000 rec/s"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr, "probing partition capacity") {
		t.Errorf("no progress line on stderr:\n%s", stderr)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	tds, err := kadm.NewClient(cl).ListTopics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for name := range tds {
		if strings.HasPrefix(name, "surge-probe-") {
			t.Errorf("probe topic %s left behind", name)
		}
	}
}

func TestTopicsPlanUsageErrors(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "give --forecast"},
		{[]string{"--forecast", "orders"}, "want TOPIC=RATE/s"},
		{[]string{"--forecast", "orders=1/s", "--headroom", "0.5"}, "--headroom 0.50"},
		{[]string{"--forecast", "orders=1/s", "--handler-latency", "20ms"}, "together"},
		{[]string{"--forecast", "orders=1/s", "--record-bytes", "huge"}, "--record-bytes"},
		{[]string{"--forecast-file", "/nonexistent.yaml"}, "invalid forecast"},
	} {
		_, _, err := run(t, append([]string{"topics", "plan", "--brokers", "127.0.0.1:1"}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("topics plan %v: got %v, want an error containing %q", tt.args, err, tt.want)
			continue
		}
		if code := exitCode(context.Background(), err); code != exitUsage {
			t.Errorf("topics plan %v: got exit code %d, want %d", tt.args, code, exitUsage)
		}
	}
}
