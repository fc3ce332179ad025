package admin

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/stream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func newAdmin(t *testing.T) (*Admin, *kgo.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return New(cl), cl
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestDefaultSpecs(t *testing.T) {
	tests := []struct {
		name        string
		partitions  int32
		replication int16
		wantDL      int32
		wantMinISR  string
	}{
		{"eight partitions one replica", 8, 1, 2, ""},
		{"two partitions", 2, 1, 1, ""},
		{"broker defaults", -1, -1, -1, ""},
		{"three replicas", 64, 3, 16, "2"},
		{"two replicas", 12, 2, 3, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			specs := DefaultSpecs(stream.DefaultTopics(), tt.partitions, tt.replication)
			if len(specs) != 5 {
				t.Fatalf("got %d specs, want 5", len(specs))
			}
			for i, s := range specs {
				wantName := stream.DefaultTopics().All()[i]
				wantParts, wantRet := tt.partitions, "604800000"
				if s.Name == "dead-letters" {
					wantParts, wantRet = tt.wantDL, "2592000000"
				}
				if s.Name != wantName || s.Partitions != wantParts || s.ReplicationFactor != tt.replication {
					t.Errorf("spec %d: got %s/%d/%d, want %s/%d/%d", i, s.Name, s.Partitions,
						s.ReplicationFactor, wantName, wantParts, tt.replication)
				}
				if got := s.Configs["retention.ms"]; got != wantRet {
					t.Errorf("%s retention.ms: got %s, want %s", s.Name, got, wantRet)
				}
				if got := s.Configs["cleanup.policy"]; got != "delete" {
					t.Errorf("%s cleanup.policy: got %s, want delete", s.Name, got)
				}
				if got := s.Configs["compression.type"]; got != "lz4" {
					t.Errorf("%s compression.type: got %s, want lz4", s.Name, got)
				}
				if got := s.Configs["min.insync.replicas"]; got != tt.wantMinISR {
					t.Errorf("%s min.insync.replicas: got %q, want %q", s.Name, got, tt.wantMinISR)
				}
			}
		})
	}
}

func TestEnsureTopicsIdempotent(t *testing.T) {
	a, _ := newAdmin(t)
	ctx := testCtx(t)
	specs := DefaultSpecs(stream.DefaultTopics(), 8, 1)

	first, err := a.EnsureTopics(ctx, specs)
	if err != nil {
		t.Fatalf("first EnsureTopics: %v", err)
	}
	want := []TopicResult{
		{Name: "orders", Status: StatusCreated, Partitions: 8},
		{Name: "orders-priority", Status: StatusCreated, Partitions: 8},
		{Name: "user-events", Status: StatusCreated, Partitions: 8},
		{Name: "coupons", Status: StatusCreated, Partitions: 8},
		{Name: "dead-letters", Status: StatusCreated, Partitions: 2},
	}
	if !reflect.DeepEqual(first, want) {
		t.Errorf("first EnsureTopics:\ngot  %+v\nwant %+v", first, want)
	}

	second, err := a.EnsureTopics(ctx, specs)
	if err != nil {
		t.Fatalf("second EnsureTopics: %v", err)
	}
	for i := range want {
		want[i].Status = StatusExists
	}
	if !reflect.DeepEqual(second, want) {
		t.Errorf("second EnsureTopics:\ngot  %+v\nwant %+v", second, want)
	}

	infos, err := a.ListTopics(ctx)
	if err != nil {
		t.Fatalf("ListTopics: %v", err)
	}
	wantInfos := []TopicInfo{
		{Name: "coupons", Partitions: 8, ReplicationFactor: 1},
		{Name: "dead-letters", Partitions: 2, ReplicationFactor: 1},
		{Name: "orders", Partitions: 8, ReplicationFactor: 1},
		{Name: "orders-priority", Partitions: 8, ReplicationFactor: 1},
		{Name: "user-events", Partitions: 8, ReplicationFactor: 1},
	}
	for i := range infos {
		if infos[i].ID == "" {
			t.Errorf("topic %s: got empty id, want the topic id", infos[i].Name)
		}
		infos[i].ID = ""
	}
	if !reflect.DeepEqual(infos, wantInfos) {
		t.Errorf("ListTopics:\ngot  %+v\nwant %+v", infos, wantInfos)
	}
}

// An existing topic that differs from its spec is reported, never changed.
func TestEnsureTopicsWarnsAndNeverChanges(t *testing.T) {
	a, _ := newAdmin(t)
	ctx := testCtx(t)
	if _, err := a.EnsureTopics(ctx, []TopicSpec{{Name: "orders", Partitions: 2, ReplicationFactor: 1,
		Configs: map[string]string{"retention.ms": "3600000"}}}); err != nil {
		t.Fatalf("pre-create: %v", err)
	}

	res, err := a.EnsureTopics(ctx, DefaultSpecs(stream.Topics{Orders: "orders"}, 8, 1))
	if err != nil {
		t.Fatalf("EnsureTopics: %v", err)
	}
	if len(res) != 1 || res[0].Status != StatusExists || res[0].Partitions != 2 {
		t.Fatalf("got %+v, want orders existing with 2 partitions", res)
	}
	for _, want := range []string{"has 2 partitions, spec asks for 8", `retention.ms is "3600000", spec asks for "604800000"`, "compression.type"} {
		if !strings.Contains(res[0].Warning, want) {
			t.Errorf("got warning %q, want it to mention %q", res[0].Warning, want)
		}
	}

	d, err := a.DescribeTopic(ctx, "orders")
	if err != nil {
		t.Fatalf("DescribeTopic: %v", err)
	}
	if len(d.Partitions) != 2 || d.Configs["retention.ms"] != "3600000" {
		t.Errorf("got %d partitions and retention.ms %s, want the topic unchanged (2, 3600000)",
			len(d.Partitions), d.Configs["retention.ms"])
	}
}

func TestEnsureTopicsErrors(t *testing.T) {
	a, _ := newAdmin(t)
	ctx := testCtx(t)
	tests := []struct {
		name    string
		specs   []TopicSpec
		wantMsg string
		wantN   int
	}{
		{"no name", []TopicSpec{{Partitions: 1}}, "spec 0 has no name", 0},
		{"too many replicas", []TopicSpec{{Name: "ok", Partitions: 1, ReplicationFactor: 1},
			{Name: "bad", Partitions: 1, ReplicationFactor: 3}}, "create topic bad", 1},
		{"zero partitions", []TopicSpec{{Name: "zero", Partitions: 0, ReplicationFactor: 1}},
			"create topic zero: INVALID_PARTITIONS", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := a.EnsureTopics(ctx, tt.specs)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("got error %v, want one containing %q", err, tt.wantMsg)
			}
			if len(res) != tt.wantN {
				t.Errorf("got %d results before the error, want %d", len(res), tt.wantN)
			}
		})
	}
}

func TestListTopicsExcludesInternal(t *testing.T) {
	a, cl := newAdmin(t)
	ctx := testCtx(t)
	if _, err := a.EnsureTopics(ctx, []TopicSpec{{Name: "orders", Partitions: 1, ReplicationFactor: 1}}); err != nil {
		t.Fatal(err)
	}
	// EnsureTopics refuses such a name; another client may create one.
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "__surge_internal"); err != nil {
		t.Fatal(err)
	}
	infos, err := a.ListTopics(ctx)
	if err != nil {
		t.Fatalf("ListTopics: %v", err)
	}
	if len(infos) != 1 || infos[0].Name != "orders" {
		t.Errorf("got %+v, want only orders", infos)
	}
}

func TestDescribeTopicCounts(t *testing.T) {
	a, cl := newAdmin(t)
	ctx := testCtx(t)
	if _, err := a.EnsureTopics(ctx, DefaultSpecs(stream.Topics{UserEvents: "user-events"}, 4, 1)); err != nil {
		t.Fatal(err)
	}
	const n = 250
	perPartition := map[int32]int64{}
	for i := range n {
		r := &kgo.Record{Topic: "user-events", Key: fmt.Appendf(nil, "u-%d", i%13), Value: []byte("{}")}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
		perPartition[r.Partition]++
	}

	d, err := a.DescribeTopic(ctx, "user-events")
	if err != nil {
		t.Fatalf("DescribeTopic: %v", err)
	}
	if d.Records != n || len(d.Partitions) != 4 || d.ReplicationFactor != 1 || d.ID == "" {
		t.Errorf("got records=%d partitions=%d rf=%d id=%q, want %d, 4, 1, an id",
			d.Records, len(d.Partitions), d.ReplicationFactor, d.ID, n)
	}
	for i, p := range d.Partitions {
		want := PartitionDetail{Partition: int32(i), Leader: 0, Replicas: []int32{0}, ISR: []int32{0},
			StartOffset: 0, EndOffset: perPartition[int32(i)], Records: perPartition[int32(i)]}
		if !reflect.DeepEqual(p, want) {
			t.Errorf("partition %d:\ngot  %+v\nwant %+v", i, p, want)
		}
	}
	if got := d.Configs["retention.ms"]; got != "604800000" {
		t.Errorf("retention.ms: got %q, want 604800000", got)
	}
	if got := d.Configs["compression.type"]; got != "lz4" {
		t.Errorf("compression.type: got %q, want lz4", got)
	}
}

func TestDescribeTopicNotFound(t *testing.T) {
	a, _ := newAdmin(t)
	_, err := a.DescribeTopic(testCtx(t), "nope")
	if !errors.Is(err, ErrTopicNotFound) {
		t.Errorf("got error %v, want %v", err, ErrTopicNotFound)
	}
}

// Concurrent EnsureTopics calls all succeed and each topic is created once.
func TestEnsureTopicsConcurrent(t *testing.T) {
	a, _ := newAdmin(t)
	ctx := testCtx(t)
	specs := DefaultSpecs(stream.DefaultTopics(), 4, 1)
	const callers = 4
	results := make(chan []TopicResult, callers)
	errs := make(chan error, callers)
	for range callers {
		go func() {
			res, err := a.EnsureTopics(ctx, specs)
			results <- res
			errs <- err
		}()
	}
	created := map[string]int{}
	for range callers {
		if err := <-errs; err != nil {
			t.Errorf("EnsureTopics: %v", err)
		}
		for _, r := range <-results {
			if r.Status == StatusCreated {
				created[r.Name]++
			}
			if r.Warning != "" {
				t.Errorf("%s: got warning %q, want none", r.Name, r.Warning)
			}
		}
	}
	for _, s := range specs {
		if created[s.Name] != 1 {
			t.Errorf("%s: created %d times, want 1", s.Name, created[s.Name])
		}
	}
}

func TestEnsureTopicsRefusesInternalNames(t *testing.T) {
	a, cl := newAdmin(t)
	ctx := testCtx(t)
	for _, name := range []string{"__consumer_offsets", "__transaction_state", "__mine"} {
		_, err := a.EnsureTopics(ctx, []TopicSpec{{Name: "ok-topic", Partitions: 1, ReplicationFactor: 1}, {Name: name, Partitions: 1, ReplicationFactor: 1}})
		if !errors.Is(err, ErrInternalTopicName) {
			t.Fatalf("EnsureTopics %s: got error %v, want %v", name, err, ErrInternalTopicName)
		}
		if !strings.Contains(err.Error(), `"`+name+`"`) {
			t.Errorf("got error %q, want it to name the topic %q", err, name)
		}
	}
	// Nothing was created, not even the valid spec before it.
	tds, err := kadm.NewClient(cl).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if names := tds.Names(); len(names) != 0 {
		t.Errorf("got topics %v after refused calls, want none", names)
	}
}
