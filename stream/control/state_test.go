package control

import (
	"testing"
	"time"
)

func TestStateCreatorAndChains(t *testing.T) {
	st := newState()
	t0 := time.Now()
	apply := func(rs ...Record) {
		for _, r := range rs {
			st.apply(r)
		}
	}
	r1 := ResizeID("orders", "abc", 8, 16)
	r2 := ResizeID("orders", "abc", 16, 32)
	apply(
		Record{Kind: KindBegin, Resize: r1, Topic: "orders", TopicID: "abc", Old: 8, New: 16, OrderSafe: true, Time: t0},
		Record{Kind: KindCreated, Resize: r1},
		Record{Kind: KindBarrier, Resize: r1, Offsets: []int64{1, 2, 3, 4, 5, 6, 7, 8}},
		Record{Kind: KindBegin, Resize: r2, Topic: "orders", TopicID: "abc", Old: 16, New: 32, OrderSafe: true, Time: t0.Add(time.Minute)},
	)
	tests := []struct {
		p          int32
		wantResize string
		wantParent int32
	}{
		{3, "", 0},
		{12, r1, 4},
		{15, r1, 7},
		{20, r2, 4},
		{28, r2, 12}, // whose parent 12 is held by r1 in turn: a chain
	}
	for _, tt := range tests {
		r := st.Creator("orders", "abc", tt.p)
		got := ""
		var parent int32
		if r != nil {
			got = r.ID
			parent, _ = r.Parent(tt.p)
		}
		if got != tt.wantResize || parent != tt.wantParent {
			t.Errorf("partition %d: got resize %q parent %d, want %q parent %d", tt.p, got, parent, tt.wantResize, tt.wantParent)
		}
	}
	if r := st.Creator("orders", "other-id", 12); r != nil {
		t.Errorf("a recreated topic (another id): got resize %s, want none", r.ID)
	}
	if open := st.Open("orders"); len(open) != 1 || open[0].ID != r2 {
		t.Errorf("open resizes: got %d, want only %s (begun, no barrier)", len(open), r2)
	}
	if !st.Resizes[r1].Done() || st.Resizes[r2].Done() {
		t.Errorf("done: got %v, %v; want true, false", st.Resizes[r1].Done(), st.Resizes[r2].Done())
	}
}

func TestStateLiveProducers(t *testing.T) {
	st := newState()
	now := time.Now()
	st.apply(Record{Kind: KindHeartbeat, Producer: "a", Time: now.Add(-time.Second)})
	st.apply(Record{Kind: KindHeartbeat, Producer: "b", Time: now.Add(-time.Minute)}) // crashed
	st.apply(Record{Kind: KindHeartbeat, Producer: "c", Time: now})
	st.apply(Record{Kind: KindHeartbeat, Producer: "c", Time: now, Closed: true}) // closed
	live := st.Live(now, LiveWindow)
	if len(live) != 1 || live[0].ID != "a" {
		t.Errorf("live producers: got %+v, want only a", live)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	in := Record{Kind: KindBarrier, Resize: "orders@x:8-32", Topic: "orders", Old: 8, New: 32, Offsets: []int64{0, 5}, Missing: []string{"p1"}, Time: time.Unix(1, 0).UTC()}
	b, err := encode(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if out.Key() != "resize/orders@x:8-32/barrier" || len(out.Offsets) != 2 || out.Offsets[1] != 5 || out.Missing[0] != "p1" || !out.Time.Equal(in.Time) {
		t.Errorf("round trip: got %+v key %q, want %+v", out, out.Key(), in)
	}
}

// TestStateBaseCount: the count before the first resize on record, for
// this topic id only: a topic deleted and created again under its name
// (another id) has no resize of its own yet.
func TestStateBaseCount(t *testing.T) {
	st := newState()
	st.apply(Record{Kind: KindBegin, Resize: ResizeID("orders", "old-id", 8, 16), Topic: "orders", TopicID: "old-id", Old: 8, New: 16, OrderSafe: true})
	st.apply(Record{Kind: KindBegin, Resize: ResizeID("orders", "new-id", 32, 64), Topic: "orders", TopicID: "new-id", Old: 32, New: 64, OrderSafe: true})
	tests := []struct {
		topicID string
		current int32
		want    int32
	}{
		{"old-id", 16, 8},
		{"new-id", 32, 32}, // recreated with 32: the old topic's resize is not its own
		{"new-id", 64, 32},
		{"", 16, 8}, // id unknown: every resize of the name counts
	}
	for _, tt := range tests {
		if got := st.BaseCount("orders", tt.topicID, tt.current); got != tt.want {
			t.Errorf("BaseCount(orders, %q, %d): got %d, want %d", tt.topicID, tt.current, got, tt.want)
		}
	}
}
