package loadgen

import (
	"context"
	"testing"
	"time"
)

// BenchmarkNext measures generating one record.
func BenchmarkNext(b *testing.B) {
	m := newModel(1, DefaultUsers, DefaultVIPShare, DefaultCampaigns())
	now := time.Now()
	var meta recMeta
	b.ReportAllocs()
	for b.Loop() {
		m.next(now, &meta)
	}
}

// BenchmarkRun measures the whole hand-off path, unpaced, with a sender that
// acks at once: generation, slots, stats and the latency histogram.
func BenchmarkRun(b *testing.B) {
	g, err := New(Config{Seed: 1, MaxRecords: int64(b.N)}, nopSender)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	if _, err := g.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPaced runs at 500k records/s for 200ms and reports the rate
// reached.
func BenchmarkPaced(b *testing.B) {
	for b.Loop() {
		g, err := New(Config{Seed: 1, Rate: 500000, Duration: 200 * time.Millisecond, Shape: ShapeSteady}, nopSender)
		if err != nil {
			b.Fatal(err)
		}
		st, err := g.Run(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(st.Records)/st.Elapsed.Seconds(), "records/s")
	}
}
