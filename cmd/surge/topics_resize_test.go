package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/internal/testenv"
)

func TestTopicsResizeRefusals(t *testing.T) {
	brokers := testenv.KafkaPartitions(t, 8, "orders")
	for _, tt := range []struct {
		name  string
		topic string
		args  []string
		want  string
	}{
		{"shrink", "orders", []string{"--partitions", "4"}, "kafka cannot remove partitions"},
		{"same count", "orders", []string{"--partitions", "8"}, "already has that many partitions"},
		{"not a multiple", "orders", []string{"--partitions", "12"}, "not a multiple of the current one"},
		{"no count", "orders", nil, "--partitions N is required"},
		{"no topic", "no-such-topic", []string{"--partitions", "16"}, "topic does not exist"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"topics", "resize", tt.topic, "--brokers", brokers[0]}, tt.args...)
			_, _, err := run(t, args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
			if got := exitCode(context.Background(), err); got != exitUsage {
				t.Errorf("got exit code %d, want %d", got, exitUsage)
			}
		})
	}
	// A count that is not a multiple passes with --allow-reorder (dry run).
	out, _, err := run(t, "topics", "resize", "orders", "--brokers", brokers[0], "--partitions", "12", "--allow-reorder", "--dry-run")
	if err != nil {
		t.Fatalf("--allow-reorder dry run: %v", err)
	}
	if !strings.Contains(out, "order-safe: false") || !strings.Contains(out, "keys that move: 66.7%") {
		t.Errorf("--allow-reorder dry run: got\n%s\nwant order-safe false and 66.7%% of keys moving", out)
	}
	if got := partitionCount(t, brokers, "orders"); got != 8 {
		t.Errorf("after dry runs: got %d partitions, want 8", got)
	}
}

func TestTopicsResizeDryRunJSONAndApply(t *testing.T) {
	brokers := testenv.KafkaPartitions(t, 8, "orders")
	var recs []*kgo.Record
	for i := range 2000 {
		recs = append(recs, &kgo.Record{Topic: "orders", Key: fmt.Appendf(nil, "user-%d", i), Value: []byte("{}")})
	}
	testenv.Produce(t, brokers, recs...)
	// A consumer group that is not surge's.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumerGroup("foreign"), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	for n := 0; n < 2000; {
		n += cl.PollFetches(ctx).NumRecords()
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}

	out, _, err := run(t, "topics", "resize", "orders", "--brokers", brokers[0], "--partitions", "32", "--dry-run", "--output", "json")
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	var plan struct {
		Old, New   int32
		OrderSafe  bool    `json:"order_safe"`
		MovedShare float64 `json:"moved_share"`
		Sample     struct {
			Keys       int
			MovedShare float64 `json:"moved_share"`
		}
		Feeds []struct {
			Old int32
			New []int32
		}
		Groups []struct {
			Group string
			Known bool
		}
		Warnings []string
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("dry run output is not JSON: %v\n%s", err, out)
	}
	if plan.Old != 8 || plan.New != 32 || !plan.OrderSafe || plan.MovedShare != 0.75 {
		t.Errorf("plan %d -> %d, order safe %v, moved %v: want 8 -> 32, true, 0.75", plan.Old, plan.New, plan.OrderSafe, plan.MovedShare)
	}
	if plan.Sample.Keys != 2000 || plan.Sample.MovedShare < 0.7 || plan.Sample.MovedShare > 0.8 {
		t.Errorf("sample: %d keys, %.3f moved; want 2000 keys, about 0.75", plan.Sample.Keys, plan.Sample.MovedShare)
	}
	if len(plan.Feeds) != 8 || fmt.Sprint(plan.Feeds[3].New) != "[3 11 19 27]" {
		t.Errorf("feeds %v: want 8, partition 3 feeding [3 11 19 27]", plan.Feeds)
	}
	if len(plan.Groups) != 1 || plan.Groups[0].Group != "foreign" || plan.Groups[0].Known {
		t.Errorf("groups %+v: want the foreign group, not known", plan.Groups)
	}
	if len(plan.Warnings) != 1 || !strings.Contains(plan.Warnings[0], `"foreign"`) {
		t.Errorf("warnings %q: want one about the foreign group", plan.Warnings)
	}
	if got := partitionCount(t, brokers, "orders"); got != 8 {
		t.Errorf("after the dry run: got %d partitions, want 8", got)
	}

	out, _, err = run(t, "topics", "resize", "orders", "--brokers", brokers[0], "--partitions", "32")
	if err != nil {
		t.Fatalf("resize: %v\n%s", err, out)
	}
	for _, want := range []string{"begin", "created", "producers switched 0/0", "barrier written: ["} {
		if !strings.Contains(out, want) {
			t.Errorf("resize output lacks %q:\n%s", want, out)
		}
	}
	if got := partitionCount(t, brokers, "orders"); got != 32 {
		t.Errorf("after the resize: got %d partitions, want 32", got)
	}
	_, _, err = run(t, "topics", "resize", "orders", "--brokers", brokers[0], "--partitions", "32")
	if err == nil || exitCode(ctx, err) != exitUsage {
		t.Errorf("second resize to 32: got %v, want a usage error", err)
	}
}

func partitionCount(t *testing.T, brokers []string, topic string) int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	td, err := kadm.NewClient(cl).ListTopics(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	return len(td[topic].Partitions)
}

// TestTopicsResizeDryRunCreatesNothing: a dry run on a cluster that never
// saw a resize leaves it as it was: no partitions and no control topic.
func TestTopicsResizeDryRunCreatesNothing(t *testing.T) {
	brokers := testenv.KafkaPartitions(t, 8, "orders")
	out, _, err := run(t, "topics", "resize", "orders", "--brokers", brokers[0], "--partitions", "16", "--dry-run")
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if !strings.Contains(out, "resize orders: 8 -> 16 partitions") {
		t.Errorf("dry run output:\n%s\nwant the plan 8 -> 16", out)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	td, err := kadm.NewClient(cl).ListTopics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := td.Names(); len(got) != 1 || got[0] != "orders" {
		t.Errorf("topics after a dry run: got %v, want only orders", got)
	}
	if got := partitionCount(t, brokers, "orders"); got != 8 {
		t.Errorf("after the dry run: got %d partitions, want 8", got)
	}
}
