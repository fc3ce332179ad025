package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketEdges(t *testing.T) {
	// Every bucket's high edge maps back to the bucket, and the next value
	// starts the next bucket.
	for i := range numBuckets - 1 {
		high := bucketHigh(i)
		if got := bucketOf(high); got != i {
			t.Fatalf("bucketOf(bucketHigh(%d) = %d) = %d, want %d", i, high, got, i)
		}
		if got := bucketOf(high + 1); got != i+1 {
			t.Fatalf("bucketOf(%d) = %d, want %d", high+1, got, i+1)
		}
	}
	if got, want := bucketOf(math.MaxUint64), numBuckets-1; got != want {
		t.Errorf("bucketOf(MaxUint64) = %d, want %d", got, want)
	}
	if got := bucketHigh(numBuckets - 1); got != math.MaxUint64 {
		t.Errorf("bucketHigh(last) = %d, want MaxUint64", got)
	}
}

func TestQuantiles(t *testing.T) {
	var h histogram
	rng := rand.New(rand.NewPCG(1, 2))
	vals := make([]time.Duration, 100000)
	for i := range vals {
		// log-normal-ish latencies between 10µs and 100ms
		vals[i] = time.Duration(10000 * math.Exp(rng.Float64()*math.Log(10000)))
		h.record(vals[i])
	}
	slices.Sort(vals)
	var s snapshot
	h.snapshot(&s)
	qs := []float64{0.5, 0.99, 0.999}
	got := s.quantiles(qs...)
	for i, q := range qs {
		exact := vals[rankOf(q, int64(len(vals)))-1]
		if got[i] < exact || float64(got[i]) > float64(exact)*(1+1.0/subCount) {
			t.Errorf("q%.3f = %v, want within [%v, +6.25%%]", q, got[i], exact)
		}
	}

	var prev snapshot
	h.snapshot(&prev)
	h.record(5 * time.Millisecond)
	h.snapshot(&s)
	s.sub(&prev)
	w := s.quantiles(0.5, 0.99)
	if w[0] < 5*time.Millisecond || w[0] > 5*time.Millisecond*17/16 || w[1] != w[0] {
		t.Errorf("window quantiles = %v, want both about 5ms", w)
	}
	var empty snapshot
	if e := empty.quantiles(0.5); e[0] != 0 {
		t.Errorf("quantile of an empty histogram = %v, want 0", e[0])
	}
}
