package loadgen

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// decodeID reads an id back into its 128 bits.
func decodeID(t *testing.T, id string) (hi, lo uint64) {
	t.Helper()
	if len(id) != idLen {
		t.Fatalf("id %q has %d characters, want %d", id, len(id), idLen)
	}
	for i := range idLen {
		v := strings.IndexByte(crockford, id[i])
		if v < 0 {
			t.Fatalf("id %q has %q, not Crockford base 32", id, id[i])
		}
		hi = hi<<5 | lo>>59
		lo = lo<<5 | uint64(v)
	}
	return hi, lo
}

func TestIDs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	seeds := []uint64{0, 1, 2024, math.MaxUint64, 1 << 63}
	counters := []uint64{0, 1, 31, 32, 1<<60 - 1, 1 << 60, math.MaxUint64}
	for range 50 {
		seeds = append(seeds, rng.Uint64())
		counters = append(counters, rng.Uint64())
	}
	for _, seed := range seeds {
		e := newIDEncoder(seed)
		for _, n := range counters {
			id := e.eventID(n)
			if want := string(appendID(nil, seed, n)); id != want {
				t.Fatalf("eventID(%d, %d) = %s, want %s", seed, n, id, want)
			}
			if id[0] > '7' {
				t.Fatalf("eventID(%d, %d) = %s starts above 7, not ULID-shaped", seed, n, id)
			}
			if hi, lo := decodeID(t, id); hi != seed || lo != n {
				t.Fatalf("eventID(%d, %d) = %s decodes to (%d, %d)", seed, n, id, hi, lo)
			}
		}
	}
	e := newIDEncoder(7)
	if got, want := e.prefixedID("o-", 5), "o-"+e.eventID(5); got != want {
		t.Errorf("prefixedID = %q, want %q", got, want)
	}
	// Ids of one seed sort by counter.
	for n := uint64(0); n < 2000; n++ {
		if a, b := e.eventID(n), e.eventID(n+1); a >= b {
			t.Fatalf("eventID(%d) = %s ≥ eventID(%d) = %s", n, a, n+1, b)
		}
	}
}

func TestUserID(t *testing.T) {
	tests := []struct {
		i, users int
		want     string
	}{
		{0, 10, "u-000000"},
		{123, 10000, "u-000123"},
		{999999, 1000000, "u-999999"},
		{1234567, 10000000, "u-1234567"},
		{5, 10000000, "u-0000005"},
	}
	for _, tt := range tests {
		if got := userID(tt.i, userIDWidth(tt.users)); got != tt.want {
			t.Errorf("userID(%d) of %d users = %q, want %q", tt.i, tt.users, got, tt.want)
		}
	}
}

func TestZipfTable(t *testing.T) {
	const n = 100
	tab := newZipfTable(n, skuZipfS, skuZipfV)
	rng := rand.New(rand.NewPCG(3, 4))
	counts := make([]int, n)
	const draws = 400000
	for range draws {
		counts[tab.draw(rng)]++
	}
	var total float64
	for k := range n {
		total += math.Pow(skuZipfV+float64(k), -skuZipfS)
	}
	for _, k := range []int{0, 1, 10, 50, 99} {
		want := draws * math.Pow(skuZipfV+float64(k), -skuZipfS) / total
		if got := float64(counts[k]); math.Abs(got-want) > 5*math.Sqrt(want)+1 {
			t.Errorf("SKU %d drawn %v times, want about %.0f", k, got, want)
		}
	}
	one := newZipfTable(1, skuZipfS, skuZipfV)
	if got := one.draw(rng); got != 0 {
		t.Errorf("draw from a one-SKU table = %d, want 0", got)
	}
}
