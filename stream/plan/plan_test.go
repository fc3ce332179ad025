package plan

import (
	"strings"
	"testing"
	"time"
)

func TestRoundToMultiple(t *testing.T) {
	tests := []struct {
		need, current, want int32
	}{
		{5, 8, 8},   // fewer than now: keep the current count
		{8, 8, 8},   // exactly now
		{9, 8, 16},  // one more: the next multiple
		{17, 8, 24}, // a multiple of 8, not a power of two
		{5, 0, 5},   // topic missing: what is needed
		{0, 0, 1},   // at least one partition
		{7, 3, 9},
		{1, 1, 1},
		{100, 1, 100},
	}
	for _, tt := range tests {
		if got := roundToMultiple(tt.need, tt.current); got != tt.want {
			t.Errorf("roundToMultiple(%d, %d): got %d, want %d", tt.need, tt.current, got, tt.want)
		}
	}
}

func state(topics map[string]int32, groups ...GroupState) *State {
	st := &State{Brokers: 1, Topics: map[string]TopicState{}, Groups: groups}
	for name, n := range topics {
		st.Topics[name] = TopicState{Topic: name, Exists: n > 0, Partitions: n, Replication: 1}
	}
	return st
}

func TestComputeTopics(t *testing.T) {
	capRecs := Capacity{ProduceRecordsPerSec: 9500, ConsumeRecordsPerSec: 50000, Source: SourceGiven}
	tests := []struct {
		name       string
		forecast   string
		capacity   Capacity
		current    int32
		headroom   float64
		wantNeeded int32
		wantParts  int32
		wantAction string
		wantText   string
	}{
		{"issue example", "orders=20000/s", capRecs, 8, 2, 5, 8, ActionKeep,
			"20000 rec/s × 2.0 headroom / 9500 rec/s per partition = 4.21 → 5; need 5 ≤ current 8: keep 8"},
		{"grow to a multiple", "orders=50000/s", capRecs, 8, 2, 11, 16, ActionGrow,
			"need 11 → rounded up to a multiple of 8 = 16"},
		{"no headroom", "orders=38000/s", capRecs, 2, 1, 4, 4, ActionGrow,
			"38000 rec/s × 1.0 headroom / 9500 rec/s per partition = 4.00 → 4"},
		{"default headroom", "orders=38000/s", capRecs, 2, 0, 8, 8, ActionGrow, "× 2.0 headroom"},
		{"missing topic", "orders=20000/s", capRecs, 0, 2, 5, 5, ActionCreate, "topic missing: create it with 5"},
		{"consume slower than produce", "orders=20000/s",
			Capacity{ProduceRecordsPerSec: 50000, ConsumeRecordsPerSec: 4000, Source: SourceProbe}, 4, 2, 10, 12, ActionGrow,
			"/ 4000 rec/s per partition = 10.00 → 10"},
		{"bytes bind", "orders=10000/s@2KB",
			Capacity{ProduceRecordsPerSec: 100000, ProduceBytesPerSec: 10e6, ConsumeRecordsPerSec: 100000, ConsumeBytesPerSec: 20e6, Source: SourceGiven},
			3, 2, 4, 6, ActionGrow,
			"20.00 MB/s × 2.0 headroom / 10.00 MB/s per partition = 4.00 → 4; need 4 → rounded up to a multiple of 3 = 6"},
		{"tiny forecast still one partition", "orders=1/s", capRecs, 0, 2, 1, 1, ActionCreate, "= 0.00 → 1; need 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseForecast([]string{tt.forecast}, 0)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Compute(f, tt.capacity, state(map[string]int32{"orders": tt.current}), Options{Headroom: tt.headroom})
			if err != nil {
				t.Fatal(err)
			}
			tp, ok := p.Topic("orders")
			if !ok {
				t.Fatalf("no plan for orders: %+v", p)
			}
			if tp.Needed != tt.wantNeeded || tp.Partitions != tt.wantParts || tp.Action != tt.wantAction {
				t.Errorf("got needed %d, partitions %d, action %s; want %d, %d, %s",
					tp.Needed, tp.Partitions, tp.Action, tt.wantNeeded, tt.wantParts, tt.wantAction)
			}
			if !strings.Contains(tp.Arithmetic, tt.wantText) {
				t.Errorf("arithmetic: got %q, want it to contain %q", tp.Arithmetic, tt.wantText)
			}
		})
	}
}

func TestComputeGroups(t *testing.T) {
	c := Capacity{ProduceRecordsPerSec: 10000, ConsumeRecordsPerSec: 30000, Source: SourceProbe}
	f, err := ParseForecast([]string{"orders=20000/s,user-events=100000/s"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Groups = map[string]GroupForecast{"inventory": {Group: "inventory", HandlerLatency: 10 * time.Millisecond, MaxInFlight: 100}}
	st := state(map[string]int32{"orders": 4, "user-events": 8},
		GroupState{Group: "surge-sink", Topics: []string{"orders", "user-events"}, Members: 2, State: "Stable"},
		GroupState{Group: "payment", Topics: []string{"orders"}, Dispatch: true, Members: 1},
		GroupState{Group: "inventory", Topics: []string{"orders"}, Dispatch: true},
		GroupState{Group: "unrelated", Topics: []string{"elsewhere"}},
	)
	handler := GroupForecast{HandlerLatency: 20 * time.Millisecond, MaxInFlight: 64} // 3200/s
	p, err := Compute(f, c, st, Options{Handler: handler})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		group         string
		wantInstances int
		wantCapped    bool
		wantText      string
	}{
		// 120000 × 2 / 30000 = 8; partitions: orders 4, user-events 20 → 24.
		{"surge-sink", 8, false, "120000 rec/s × 2.0 headroom / 30000 rec/s per instance (consume capacity (probe)) = 8.00 → 8"},
		// 20000 × 2 / 3200 = 12.5 → 13, capped at orders' 4 partitions.
		{"payment", 4, true, "/ 3200 rec/s per instance (handler: 64 in flight / 20ms latency) = 12.50 → 13 → capped at 4 partitions = 4"},
		// The forecast's own handler figure: 100 / 10ms = 10000/s → 4.
		{"inventory", 4, false, "/ 10000 rec/s per instance (handler: 100 in flight / 10ms latency) = 4.00 → 4"},
	}
	for _, tt := range tests {
		gp, ok := p.Group(tt.group)
		if !ok {
			t.Errorf("no plan for group %s", tt.group)
			continue
		}
		if gp.Instances != tt.wantInstances || gp.Capped != tt.wantCapped {
			t.Errorf("%s: got %d instances (capped %v), want %d (capped %v)", tt.group, gp.Instances, gp.Capped, tt.wantInstances, tt.wantCapped)
		}
		if !strings.Contains(gp.Arithmetic, tt.wantText) {
			t.Errorf("%s arithmetic: got %q, want it to contain %q", tt.group, gp.Arithmetic, tt.wantText)
		}
		if tt.wantCapped && gp.Warning == "" {
			t.Errorf("%s: capped without a warning", tt.group)
		}
	}
	if _, ok := p.Group("unrelated"); ok {
		t.Errorf("got a plan for a group reading no forecast topic, want none")
	}
	if tp, _ := p.Topic("user-events"); tp.Partitions != 24 {
		t.Errorf("user-events: got %d partitions, want 24 (100000×2/10000 = 20 → multiple of 8)", tp.Partitions)
	}
}

func TestComputeRejects(t *testing.T) {
	f, _ := ParseForecast([]string{"orders=1000/s"}, 0)
	c := Capacity{ProduceRecordsPerSec: 1000}
	if _, err := Compute(f, c, nil, Options{Headroom: 0.5}); err == nil || !strings.Contains(err.Error(), "want 1 or more") {
		t.Errorf("headroom 0.5: got %v, want a headroom error", err)
	}
	if _, err := Compute(f, Capacity{}, nil, Options{}); err == nil || !strings.Contains(err.Error(), "--partition-capacity") {
		t.Errorf("no capacity: got %v, want an error naming --partition-capacity", err)
	}
	if _, err := Compute(Forecast{}, c, nil, Options{}); err == nil || !strings.Contains(err.Error(), "no topics") {
		t.Errorf("empty forecast: got %v, want a no-topics error", err)
	}
}
