package loadgen

import (
	"context"
	"testing"
	"time"

	"github.com/surgeio/surge/schemas"
)

func TestTargetRate(t *testing.T) {
	const d = 100 * time.Second
	tests := []struct {
		shape Shape
		at    time.Duration
		want  float64
	}{
		{ShapeSteady, 0, 1000},
		{ShapeSteady, 99 * time.Second, 1000},
		{ShapeRamp, 0, 100},
		{ShapeRamp, 50 * time.Second, 550},
		{ShapeRamp, d, 1000},
		{ShapeRamp, 2 * d, 1000},
		{ShapeSpike, 0, 1000},
		{ShapeSpike, 44999 * time.Millisecond, 1000},
		{ShapeSpike, 45 * time.Second, 10000},
		{ShapeSpike, 54999 * time.Millisecond, 10000},
		{ShapeSpike, 55 * time.Second, 1000},
	}
	for _, tt := range tests {
		if got := targetRate(tt.shape, 1000, d, tt.at); got < tt.want-1e-6 || got > tt.want+1e-6 {
			t.Errorf("targetRate(%s, 1000, %v, %v) = %v, want %v", tt.shape, d, tt.at, got, tt.want)
		}
	}
}

func TestBatchFor(t *testing.T) {
	tests := []struct {
		rate float64
		want int
	}{
		{0, maxBatch}, {1, 1}, {2000, 4}, {50000, 100}, {500000, maxBatch},
	}
	for _, tt := range tests {
		if got := batchFor(tt.rate); got != tt.want {
			t.Errorf("batchFor(%v) = %d, want %d", tt.rate, got, tt.want)
		}
	}
}

// countRun runs cfg with an acking sender and returns the records sent.
func countRun(t *testing.T, cfg Config) int64 {
	t.Helper()
	g, err := New(cfg, func(_ context.Context, _ schemas.Record, done func(error)) { done(nil) })
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	st, err := g.Run(context.Background())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return st.Records
}

func TestPacing(t *testing.T) {
	tests := []struct {
		shape Shape
		want  float64 // records in 1s at 2000/s
	}{
		{ShapeSteady, 2000},
		{ShapeRamp, 0.55 * 2000},
		{ShapeSpike, 1.9 * 2000},
	}
	for _, tt := range tests {
		t.Run(string(tt.shape), func(t *testing.T) {
			got := countRun(t, Config{Seed: 1, Rate: 2000, Duration: time.Second, Shape: tt.shape})
			if float64(got) < 0.85*tt.want || float64(got) > 1.15*tt.want {
				t.Errorf("%s at 2000/s for 1s sent %d records, want %.0f ± 15%%", tt.shape, got, tt.want)
			}
		})
	}
}

func TestMaxRecordsStops(t *testing.T) {
	for _, rate := range []float64{0, 100000} {
		if got := countRun(t, Config{Seed: 1, Rate: rate, MaxRecords: 1234}); got != 1234 {
			t.Errorf("MaxRecords 1234 at rate %v sent %d records, want 1234", rate, got)
		}
	}
}
