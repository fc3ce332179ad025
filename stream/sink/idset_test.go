package sink

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestIDWindow(t *testing.T) {
	w := newIDWindow(24 * time.Hour)
	now := time.Date(2026, 12, 7, 12, 30, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	var ids []uint64
	for i := range 5000 {
		h := rng.Uint64()
		if i == 7 {
			h = 0 // stored as 1: must still be found
		}
		ids = append(ids, h)
		w.add(h, now.Add(-time.Duration(i%30)*time.Hour)) // out of order, 30 hours
	}
	for i, h := range ids {
		if !w.has(h) {
			t.Fatalf("id %d (%x): got absent, want present", i, h)
		}
	}
	if w.has(12345) {
		t.Error("an id never added: got present")
	}
	w.expire(now)
	for i, h := range ids {
		age := i % 30
		if got, want := w.has(h), age <= 24; got != want && h != 0 {
			t.Errorf("after expiry, id aged %dh: got present=%v, want %v", age, got, want)
		}
	}
	n, b := w.stats()
	if n == 0 || b < 8*n {
		t.Errorf("stats: got %d ids in %d bytes, want ids and at least 8 bytes each", n, b)
	}
}

func BenchmarkIDSet(b *testing.B) {
	var s idSet
	rng := rand.New(rand.NewPCG(3, 4))
	for range 1 << 20 {
		s.add(rng.Uint64())
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s.has(uint64(i) * 0x9e3779b97f4a7c15)
	}
}
