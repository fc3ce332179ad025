package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/stream"
)

func TestDispatchUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"dispatch", "--to", "http://x"}, "--group is required"},
		{[]string{"dispatch", "--group", "g"}, "give --to URL or --simulate"},
		{[]string{"dispatch", "--group", "g", "--to", "http://x", "--simulate", "payment"}, "not both"},
		{[]string{"dispatch", "--group", "g", "--simulate", "bank"}, "want one of"},
		{[]string{"dlq", "list"}, "--group is required"},
		{[]string{"dlq", "list", "--group", "g", "--filter", "color=red"}, "unknown field"},
		{[]string{"dlq", "redrive", "--group", "g", "--to", "elsewhere"}, "want group or source"},
	} {
		_, _, err := run(t, append(tt.args, "--brokers", "127.0.0.1:1")...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("surge %v: got error %v, want one containing %q", tt.args, err, tt.want)
			continue
		}
		if got := exitCode(context.Background(), err); got != exitUsage {
			t.Errorf("surge %v: got exit code %d, want %d", tt.args, got, exitUsage)
		}
	}
}

// TestDLQListShowRedrive: dead letters of a group are listed (table and
// JSON), shown, and redriven once; a second redrive reports them skipped.
func TestDLQListShowRedrive(t *testing.T) {
	topics := stream.DefaultTopics()
	brokers := testenv.KafkaPartitions(t, 2, topics.Orders, topics.DeadLetters)
	b := strings.Join(brokers, ",")
	p, err := stream.ClientConfig{Brokers: brokers}.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	now := time.Now()
	for i, g := range []string{"payment", "payment", "notify"} {
		dl := stream.DeadLetter{Reason: "webhook: 404 Not Found", SourceTopic: topics.Orders, SourcePartition: 1,
			SourceOffset: int64(i), Group: g, Attempts: 1, FirstFailure: now, LastFailure: now, Key: []byte("u-1"),
			Value: []byte(`{"kind":"order","event_id":"ev-` + string(rune('a'+i)) + `","user_id":"u-1"}`)}
		if err := p.ProduceSync(context.Background(), stream.NewDeadLetterRecord(topics.DeadLetters, dl)).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	out, _, err := run(t, "dlq", "list", "--group", "payment", "--brokers", b, "--output", "json")
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("list output is not JSON: %v\n%s", err, out)
	}
	if len(rows) != 2 {
		t.Fatalf("got %d dead letters of payment, want 2:\n%s", len(rows), out)
	}
	out, _, err = run(t, "dlq", "show", "--group", "payment", "--brokers", b, "ev-b")
	if err != nil || !strings.Contains(out, "404 Not Found") || !strings.Contains(out, "orders[1]@1") {
		t.Errorf("show ev-b: got %v\n%s\nwant the reason and source", err, out)
	}
	out, _, err = run(t, "dlq", "redrive", "--group", "payment", "--brokers", b, "--to", "source")
	if err != nil || !strings.Contains(out, "redrove 2 dead letter(s)") {
		t.Errorf("first redrive: got %v, %q, want 2 redriven", err, out)
	}
	out, _, err = run(t, "dlq", "redrive", "--group", "payment", "--brokers", b, "--to", "source")
	if err != nil || !strings.Contains(out, "redrove 0 dead letter(s)") || !strings.Contains(out, "2 already redriven") {
		t.Errorf("second redrive: got %v, %q, want 0 redriven and 2 skipped", err, out)
	}
	out, _, err = run(t, "dlq", "list", "--group", "payment", "--brokers", b, "--filter", "redriven=false")
	if err != nil || strings.Contains(out, "ev-") {
		t.Errorf("list redriven=false after redrive: got %v\n%s\nwant none", err, out)
	}
}
