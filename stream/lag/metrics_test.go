package lag_test

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/surgeio/surge/stream/lag"
)

// gather returns every sample of reg as "name{k=v,...}" → value.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]float64)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(ls)
			out[fmt.Sprintf("%s{%s}", mf.GetName(), strings.Join(ls, ","))] = m.GetGauge().GetValue()
		}
	}
	return out
}

func TestCollector(t *testing.T) {
	c := newCluster(t, 2, "orders")
	now := time.Now().Truncate(time.Millisecond)
	c.produce(t, "orders", 0, 10, now.Add(-60*time.Second), time.Second)
	c.commit(t, "sink", "orders", map[int32]int64{0: 4, 1: 0})
	m := lag.New(c.cl, lag.WithClock(func() time.Time { return now }))
	reg := prometheus.NewRegistry()
	if err := m.Register(reg); err != nil {
		t.Fatal(err)
	}
	if got := gather(t, reg); len(got) != 0 {
		t.Errorf("before the first sample: got %v, want no metrics", got)
	}
	if _, err := m.Sample(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	got := gather(t, reg)
	want := map[string]float64{
		"surge_lag_records{group=sink,partition=0,topic=orders}":        6,
		"surge_lag_records{group=sink,partition=1,topic=orders}":        0,
		"surge_lag_seconds{group=sink,partition=0,topic=orders}":        56,
		"surge_lag_seconds{group=sink,partition=1,topic=orders}":        0,
		"surge_lag_group_status{group=sink,status=stopped}":             1,
		"surge_lag_group_status{group=sink,status=ok}":                  0,
		"surge_lag_group_status{group=sink,status=stalled}":             0,
		"surge_lag_consume_records_per_second{group=sink,topic=orders}": 0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || math.Abs(g-v) > 0.001 {
			t.Errorf("%s: got %v (present %v), want %v", k, g, ok, v)
		}
	}
	if n := len(got); n != 5+len(lag.Statuses) {
		t.Errorf("got %d series, want %d (2 records, 2 seconds, 1 rate, a status each): %v", n, 5+len(lag.Statuses), got)
	}
}
