package loadgen

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The latency histogram has log-linear buckets in the manner of HDR
// histograms: values below 2^subBits nanoseconds get a bucket each, and every
// power of two above is split into 2^subBits equal buckets. With subBits 4 a
// bucket spans at most 1/16 of its value, so a reported quantile is at most
// 6.25% above the true one. It covers the whole uint64 range in numBuckets
// counters and records with one atomic add.
const (
	subBits    = 4
	subCount   = 1 << subBits
	numBuckets = (64-subBits)*subCount + subCount
)

// histogram counts latencies; record is safe for concurrent use.
type histogram struct {
	counts [numBuckets]atomic.Int64
}

// bucketOf is the bucket index of v nanoseconds.
func bucketOf(v uint64) int {
	if v < 2*subCount {
		return int(v)
	}
	shift := bits.Len64(v) - (subBits + 1)
	m := v >> shift // in [subCount, 2*subCount)
	return (shift+1)*subCount + int(m-subCount)
}

// bucketHigh is the largest value, in nanoseconds, that falls in bucket i.
func bucketHigh(i int) uint64 {
	if i < 2*subCount {
		return uint64(i)
	}
	shift := i/subCount - 1
	m := uint64(subCount + i%subCount)
	high := (m+1)<<shift - 1
	if high < m<<shift { // the last bucket: overflow
		return math.MaxUint64
	}
	return high
}

func (h *histogram) record(d time.Duration) {
	h.counts[bucketOf(uint64(max(d, 0)))].Add(1)
}

// snapshot is a point-in-time copy of a histogram's counts.
type snapshot [numBuckets]int64

func (h *histogram) snapshot(dst *snapshot) {
	for i := range h.counts {
		dst[i] = h.counts[i].Load()
	}
}

// sub sets s to the counts recorded between prev and s.
func (s *snapshot) sub(prev *snapshot) {
	for i := range s {
		s[i] -= prev[i]
	}
}

// quantiles returns, for each q in qs (ascending, in [0, 1]), the upper edge
// of the bucket holding the q-quantile; zeros when the snapshot is empty.
func (s *snapshot) quantiles(qs ...float64) []time.Duration {
	out := make([]time.Duration, len(qs))
	var total int64
	for _, c := range s {
		total += c
	}
	if total == 0 {
		return out
	}
	var cum int64
	j := 0
	for i, c := range s {
		cum += c
		for j < len(qs) && cum >= rankOf(qs[j], total) {
			out[j] = time.Duration(min(bucketHigh(i), math.MaxInt64))
			j++
		}
		if j == len(qs) {
			break
		}
	}
	return out
}

// rankOf is the 1-based rank of the q-quantile among total values.
func rankOf(q float64, total int64) int64 {
	r := int64(math.Ceil(q * float64(total)))
	return min(max(r, 1), total)
}
