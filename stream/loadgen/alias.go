package loadgen

import (
	"math"
	"math/rand/v2"
)

// aliasTable draws index k with probability proportional to a fixed weight
// w(k) in constant time (Vose's alias method): one uniform index, one uniform
// float. It is how SKUs are drawn by popularity, a few times per session.
type aliasTable struct {
	prob  []float64
	alias []int32
}

// newZipfTable is an alias table over n indexes with weights (v+k)^-s.
func newZipfTable(n int, s, v float64) aliasTable {
	w := make([]float64, n)
	var total float64
	for k := range w {
		w[k] = math.Pow(v+float64(k), -s)
		total += w[k]
	}
	t := aliasTable{prob: make([]float64, n), alias: make([]int32, n)}
	small := make([]int32, 0, n)
	large := make([]int32, 0, n)
	for k := range w {
		w[k] *= float64(n) / total // mean 1
		if w[k] < 1 {
			small = append(small, int32(k))
		} else {
			large = append(large, int32(k))
		}
	}
	for len(small) > 0 && len(large) > 0 {
		l, g := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		t.prob[l], t.alias[l] = w[l], g
		w[g] -= 1 - w[l]
		if w[g] < 1 {
			large = large[:len(large)-1]
			small = append(small, g)
		}
	}
	// What is left is 1 up to rounding.
	for _, k := range large {
		t.prob[k], t.alias[k] = 1, k
	}
	for _, k := range small {
		t.prob[k], t.alias[k] = 1, k
	}
	return t
}

func (t *aliasTable) draw(rng *rand.Rand) int32 {
	k := rng.IntN(len(t.prob))
	if rng.Float64() < t.prob[k] {
		return int32(k)
	}
	return t.alias[k]
}
