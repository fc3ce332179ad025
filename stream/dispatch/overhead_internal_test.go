package dispatch

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/internal/testenv"
)

// TestHistogramMatchesPrometheus: handler_seconds, observed in worker
// batches, exports what a prometheus histogram with the same buckets
// exports for the same observations.
func TestHistogramMatchesPrometheus(t *testing.T) {
	bounds := []float64{.001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	labels := prometheus.Labels{"group": "g"}
	h := newHistogram(prometheus.NewDesc("surge_dispatch_handler_seconds", "Handler latency.", nil, labels), bounds)
	ref := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "surge_dispatch_handler_seconds",
		Help: "Handler latency.", ConstLabels: labels, Buckets: bounds})
	obs := []time.Duration{0, 200 * time.Nanosecond, time.Millisecond, time.Millisecond + 1, 7 * time.Millisecond,
		2500 * time.Microsecond, 20 * time.Millisecond, 300 * time.Millisecond, 2 * time.Second, 30 * time.Second,
		31 * time.Second, time.Minute}
	a, b := h.batch(), h.batch()
	for i, d := range obs {
		if i%2 == 0 {
			h.observe(a, d)
		} else {
			h.observe(b, d)
		}
		if i == 3 {
			h.add(a) // a batch added, then refilled
		}
		ref.Observe(d.Seconds())
	}
	h.add(a)
	h.add(b)
	h.add(b) // empty: adds nothing

	got, want := gatherHistogram(t, h), gatherHistogram(t, ref)
	if got.n != want.n {
		t.Errorf("count: got %d, want %d", got.n, want.n)
	}
	if d := got.sum - want.sum; d > 1e-9 || d < -1e-9 {
		t.Errorf("sum: got %v, want %v", got.sum, want.sum)
	}
	if len(got.buckets) != len(want.buckets) {
		t.Fatalf("buckets: got %d, want %d", len(got.buckets), len(want.buckets))
	}
	for i, wb := range want.buckets {
		if gb := got.buckets[i]; gb != wb {
			t.Errorf("bucket %d: got le=%v %d, want le=%v %d", i, gb.le, gb.n, wb.le, wb.n)
		}
	}
}

type gathered struct {
	n       uint64
	sum     float64
	buckets []bucket
}

type bucket struct {
	le float64
	n  uint64
}

func gatherHistogram(t *testing.T, c prometheus.Collector) gathered {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || len(mfs[0].GetMetric()) != 1 {
		t.Fatalf("got %d metric families, want 1 with one metric", len(mfs))
	}
	if got := mfs[0].GetName(); got != "surge_dispatch_handler_seconds" {
		t.Errorf("name: got %q, want surge_dispatch_handler_seconds", got)
	}
	m := mfs[0].GetMetric()[0]
	if len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != "g" {
		t.Errorf("labels: got %v, want group=g", m.GetLabel())
	}
	h := m.GetHistogram()
	g := gathered{n: h.GetSampleCount(), sum: h.GetSampleSum()}
	for _, b := range h.GetBucket() {
		g.buckets = append(g.buckets, bucket{b.GetUpperBound(), b.GetCumulativeCount()})
	}
	return g
}

// TestFetchSizer: fetches start at the guessed size, follow the
// compressed size per record seen, are shared out over the partitions
// (each share at least twice the largest batch), stay within the client's
// configured maxima and above the minima, and do not move for small
// changes.
func TestFetchSizer(t *testing.T) {
	brokers := testenv.Kafka(t, "sized")
	type sizes struct{ fetch, part int32 }
	type batches struct{ n, records, bytes int }
	tests := []struct {
		name        string
		opts        []kgo.Opt
		maxBuffered int
		parts       int
		batches     batches
		thenParts   int // 0: unchanged
		wantStart   sizes
		wantEnd     sizes
	}{
		{"learns the size per record", nil, 20_000, 8, batches{16, 128, 128 * 100}, 0,
			sizes{8 * minPartBytes, minPartBytes}, sizes{1_000_000, 125_000}},
		{"small change kept", nil, 20_000, 2, batches{32, 128, 128 * 18}, 0,
			sizes{160_000, 80_000}, sizes{160_000, 80_000}},
		{"large batches capped at kgo's maxima", nil, 20_000, 8, batches{16, 128, 1 << 20}, 0,
			sizes{8 * minPartBytes, minPartBytes}, sizes{50 << 20, 1 << 20}},
		{"configured maximum kept", []kgo.Opt{kgo.FetchMaxBytes(100_000)}, 20_000, 8, batches{16, 128, 128 * 200}, 0,
			sizes{100_000, minPartBytes}, sizes{100_000, 2 * 128 * 200}},
		{"minimum", nil, 100, 1, batches{16, 128, 128 * 25}, 0,
			sizes{minFetchBytes, minFetchBytes}, sizes{minFetchBytes, minFetchBytes}},
		{"too few records to learn from", nil, 20_000, 8, batches{1, 100, 2500}, 0,
			sizes{8 * minPartBytes, minPartBytes}, sizes{8 * minPartBytes, minPartBytes}},
		{"many partitions raise the fetch", nil, 20_000, 64, batches{16, 128, 128 * 25}, 0,
			sizes{64 * minPartBytes, minPartBytes}, sizes{64 * minPartBytes, minPartBytes}},
		{"fewer partitions, larger shares", nil, 20_000, 8, batches{16, 128, 128 * 25}, 2,
			sizes{8 * minPartBytes, minPartBytes}, sizes{250_000, 125_000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFetchSizer(tt.maxBuffered)
			cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.WithHooks(s)}, tt.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			got := func() sizes {
				return sizes{cl.OptValue(kgo.FetchMaxBytes).(int32), cl.OptValue(kgo.FetchMaxPartitionBytes).(int32)}
			}
			s.start(cl)
			s.setPartitions(tt.parts)
			if g := got(); g != tt.wantStart {
				t.Errorf("first sizes: got %+v, want %+v", g, tt.wantStart)
			}
			for range tt.batches.n {
				s.OnFetchBatchRead(kgo.BrokerMetadata{}, "sized", 0,
					kgo.FetchBatchMetrics{NumRecords: tt.batches.records, CompressedBytes: tt.batches.bytes})
			}
			s.tune()
			if tt.thenParts > 0 {
				s.setPartitions(tt.thenParts)
			}
			if g := got(); g != tt.wantEnd {
				t.Errorf("sizes: got %+v, want %+v", g, tt.wantEnd)
			}
		})
	}
}
