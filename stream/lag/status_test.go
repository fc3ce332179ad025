package lag_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/stream/lag"
)

// step is one sample of a scenario: what happens before it, then the
// status the group must have.
type step struct {
	before func(t *testing.T)
	want   lag.Status
}

// runSteps samples once per step, 5s apart on the monitor's clock.
func runSteps(t *testing.T, m *lag.Monitor, clk *clock, group string, steps []step) lag.GroupLag {
	t.Helper()
	var g lag.GroupLag
	for i, s := range steps {
		if s.before != nil {
			s.before(t)
		}
		snap, err := m.Sample(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		g, _ = snap.Group(group)
		if g.Status != s.want {
			t.Fatalf("sample %d: got %s (%s; %d members, %d records), want %s",
				i+1, g.Status, g.Reason, g.Members, g.LagRecords, s.want)
		}
		clk.advance(5 * time.Second)
	}
	return g
}

// TestStatusStalledRecoveredStopped: a group that consumes is ok; when it
// stops committing with its member still in the group it is stalled; when
// it commits again it recovers; when its member leaves with lag left it is
// stopped.
func TestStatusStalledRecoveredStopped(t *testing.T) {
	c := newCluster(t, 1, "orders")
	now := time.Now()
	c.produce(t, "orders", 0, 100, now, time.Millisecond)
	mem := c.join(t, "payment", "orders")
	clk := &clock{t: now}
	m := lag.New(c.cl, lag.WithGroups("payment"), lag.WithClock(clk.now),
		lag.WithWindow(3), lag.WithLaggingSeconds(time.Hour))
	commit := func(o int64) func(t *testing.T) { return func(t *testing.T) { mem.commit(t, "orders", 0, o) } }

	g := runSteps(t, m, clk, "payment", []step{
		{commit(10), lag.StatusUnknown}, // 1 of 3 samples
		{commit(20), lag.StatusUnknown},
		{commit(30), lag.StatusOK}, // moving, lag shrinking
		{nil, lag.StatusOK},        // window 20, 30, 30
		{nil, lag.StatusStalled},   // window 30, 30, 30 with 70 records of lag
	})
	if !strings.Contains(g.Reason, "committed offset 30 unchanged over 3 samples") || g.Members != 1 {
		t.Errorf("stalled: got reason %q with %d members, want the unchanged offset named and 1 member", g.Reason, g.Members)
	}
	g = runSteps(t, m, clk, "payment", []step{
		{commit(60), lag.StatusOK}, // recovered: window 30, 30, 60
	})
	if want := 30.0 / 10; math.Abs(g.Rate-want) > 1e-9 {
		t.Errorf("recovered: got rate %.2f records/s, want %.2f (30 records over 10s)", g.Rate, want)
	}
	runSteps(t, m, clk, "payment", []step{
		{func(*testing.T) { mem.leave() }, lag.StatusStopped}, // no members, 40 records of lag
	})
}

// TestStatusLagging: a group that commits but falls further behind at every
// sample is lagging, and so is one whose oldest unconsumed record is older
// than the threshold.
func TestStatusLagging(t *testing.T) {
	c := newCluster(t, 1, "orders")
	now := time.Now()
	c.produce(t, "orders", 0, 50, now, time.Millisecond)
	mem := c.join(t, "notify", "orders")
	clk := &clock{t: now}
	m := lag.New(c.cl, lag.WithGroups("notify"), lag.WithClock(clk.now), lag.WithLaggingSeconds(time.Hour))
	var committed int64
	fallBehind := func(t *testing.T) {
		committed += 10
		mem.commit(t, "orders", 0, committed)
		c.produce(t, "orders", 0, 20, clk.now(), time.Millisecond) // 20 in, 10 out
	}
	g := runSteps(t, m, clk, "notify", []step{
		{fallBehind, lag.StatusUnknown},
		{fallBehind, lag.StatusUnknown},
		{fallBehind, lag.StatusLagging},
	})
	if !strings.Contains(g.Reason, "lag grew at every sample, 60 to 80 records") {
		t.Errorf("got reason %q, want the lag growth named", g.Reason)
	}

	// An old oldest record: lagging from the first sample.
	old := lag.New(c.cl, lag.WithGroups("notify"), lag.WithLaggingSeconds(30*time.Second),
		lag.WithClock(func() time.Time { return clk.now().Add(time.Minute) }))
	snap, err := old.Sample(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := snap.Group("notify"); g.Status != lag.StatusLagging || !strings.Contains(g.Reason, "above 30s") {
		t.Errorf("old lag: got %s (%q), want lagging above 30s", g.Status, g.Reason)
	}
}
