package lag

import (
	"math"
	"strings"
	"testing"
	"time"
)

// pts builds points 5s apart from (committed, lag, lagSeconds) triples.
func pts(vals ...[3]float64) []point {
	t0 := time.Unix(1_700_000_000, 0)
	out := make([]point, len(vals))
	for i, v := range vals {
		out[i] = point{at: t0.Add(time.Duration(i) * 5 * time.Second), committed: int64(v[0]), lag: int64(v[1]), lagSeconds: v[2]}
	}
	return out
}

func TestJudge(t *testing.T) {
	r := rules{minSamples: 3, laggingSeconds: 30}
	tests := []struct {
		name       string
		pts        []point
		members    int
		want       Status
		wantReason string
	}{
		{"no lag", pts([3]float64{10, 0, 0}), 1, StatusOK, ""},
		{"no lag, no members", pts([3]float64{10, 0, 0}), 0, StatusOK, ""},
		{"no members with lag: one sample decides", pts([3]float64{10, 5, 3}), 0, StatusStopped, "no members, 5 records"},
		{"one sample, young lag", pts([3]float64{10, 5, 3}), 1, StatusUnknown, "1 of 3 samples"},
		{"one sample, old lag", pts([3]float64{10, 5, 45}), 1, StatusLagging, "45s old, above 30s"},
		{"commit unchanged with lag", pts([3]float64{10, 5, 3}, [3]float64{10, 5, 8}, [3]float64{10, 9, 13}), 1, StatusStalled,
			"committed offset 10 unchanged over 3 samples (10s) with 9 records"},
		{"never committed with lag", pts([3]float64{-1, 5, 3}, [3]float64{-1, 5, 8}, [3]float64{-1, 5, 13}), 1, StatusStalled,
			"no offset committed over 3 samples"},
		{"stalled beats old lag", pts([3]float64{10, 5, 40}, [3]float64{10, 5, 45}, [3]float64{10, 5, 50}), 1, StatusStalled, "unchanged"},
		{"commit unchanged but caught up once", pts([3]float64{10, 0, 0}, [3]float64{10, 5, 2}, [3]float64{10, 5, 7}), 1, StatusOK, ""},
		{"moving, lag shrinking", pts([3]float64{10, 50, 9}, [3]float64{20, 40, 8}, [3]float64{30, 30, 7}), 1, StatusOK, ""},
		{"moving, lag records growing", pts([3]float64{10, 50, 2}, [3]float64{20, 60, 2}, [3]float64{30, 70, 2}), 1, StatusLagging,
			"lag grew at every sample, 50 to 70 records over 10s"},
		{"moving, lag seconds growing", pts([3]float64{10, 50, 2}, [3]float64{20, 50, 5}, [3]float64{30, 50, 9}), 1, StatusLagging,
			"2s to 9s"},
		{"growth with one dip is not lagging", pts([3]float64{10, 50, 2}, [3]float64{20, 60, 2}, [3]float64{30, 55, 2}, [3]float64{40, 70, 2}), 1, StatusOK, ""},
		{"draining backlog getting older", pts([3]float64{10, 50, 2}, [3]float64{20, 40, 5}, [3]float64{30, 30, 9}), 1, StatusOK, ""},
		{"unknown seconds are no growth", pts([3]float64{10, 50, -1}, [3]float64{20, 50, 5}, [3]float64{30, 50, 9}), 1, StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := judge(tt.pts, tt.members, r)
			if got != tt.want || !strings.Contains(reason, tt.wantReason) {
				t.Errorf("got %s (%q), want %s with a reason containing %q", got, reason, tt.want, tt.wantReason)
			}
		})
	}
}

func TestRate(t *testing.T) {
	tests := []struct {
		name string
		pts  []point
		want float64
	}{
		{"one point", pts([3]float64{10, 0, 0}), 0},
		{"steady", pts([3]float64{10, 0, 0}, [3]float64{60, 0, 0}, [3]float64{110, 0, 0}), 10},           // 100 over 10s
		{"first commit not counted", pts([3]float64{-1, 5, 0}, [3]float64{50, 0, 0}), 0},                 // none to 50
		{"rewind not counted", pts([3]float64{100, 0, 0}, [3]float64{0, 0, 0}, [3]float64{50, 0, 0}), 5}, // 50 over 10s
	}
	for _, tt := range tests {
		if got := rate(tt.pts); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s: got %.3f records/s, want %.3f", tt.name, got, tt.want)
		}
	}
}

func TestWindowKeepsLastSamples(t *testing.T) {
	w := newWindow(3)
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 5 {
		ps := []PartitionLag{{Topic: "orders", Partition: 0, Committed: int64(i)}}
		if i < 2 {
			ps = append(ps, PartitionLag{Topic: "orders", Partition: 1})
		}
		w.add(t0.Add(time.Duration(i)*time.Second), ps)
	}
	got := w.parts[partKey{"orders", 0}]
	if len(w.times) != 3 || len(got) != 3 || got[0].committed != 2 || got[2].committed != 4 {
		t.Errorf("got %d times and points %+v, want the last 3 (committed 2..4)", len(w.times), got)
	}
	if _, ok := w.parts[partKey{"orders", 1}]; ok {
		t.Errorf("a partition gone from the group is still in the window")
	}
}

func TestJudgeGroupTakesWorstPartition(t *testing.T) {
	w := newWindow(10)
	t0 := time.Unix(1_700_000_000, 0)
	g := GroupLag{Group: "payment", Members: 1}
	for i := range 3 {
		g.Partitions = []PartitionLag{
			{Topic: "orders", Partition: 0, Committed: int64(10 * i), LagRecords: 5, LagSeconds: 1},
			{Topic: "orders", Partition: 1, Committed: 7, LagRecords: 3, LagSeconds: 12},
		}
		w.add(t0.Add(time.Duration(i)*5*time.Second), g.Partitions)
	}
	g.Rate, g.LagRecords, g.MaxLagSeconds = 0, 0, 0
	judgeGroup(&g, w, rules{minSamples: 3, laggingSeconds: 30})
	if g.Status != StatusStalled || !strings.HasPrefix(g.Reason, "orders[1]: committed offset 7 unchanged") {
		t.Errorf("got %s (%q), want stalled naming orders[1]", g.Status, g.Reason)
	}
	if g.LagRecords != 8 || g.MaxLagSeconds != 12 || math.Abs(g.Rate-2) > 1e-9 || g.Samples != 3 {
		t.Errorf("got lag %d, max %.0fs, rate %.2f/s, %d samples; want 8, 12s, 2/s, 3", g.LagRecords, g.MaxLagSeconds, g.Rate, g.Samples)
	}
}
