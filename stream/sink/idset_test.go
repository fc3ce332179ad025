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

// TestIDWindowIdleJump: after the sink saw no id for longer than the tags
// span, old ids are swept out rather than decoded into the wrong bucket,
// and ids added since are kept.
func TestIDWindowIdleJump(t *testing.T) {
	w := newIDWindow(time.Hour) // buckets of 150 s
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	w.add(1<<40, now)
	later := now.Add(10 * time.Hour)
	w.add(2<<40, later)
	if w.has(1 << 40) {
		t.Error("an id added 10 windows ago: got present after a new add, want swept out")
	}
	if !w.has(2 << 40) {
		t.Error("the id just added: got absent")
	}
	w.expire(later.Add(30 * time.Minute))
	if !w.has(2 << 40) {
		t.Error("an id 30 minutes old in a 1h window: got absent after expiry")
	}
	w.expire(later.Add(2 * time.Hour))
	if w.has(2<<40) || w.set.n != 0 {
		t.Errorf("an id 2h old in a 1h window: got present (%d ids), want swept out", w.set.n)
	}
	// Re-adding an id keeps its newest bucket.
	w.add(3<<40, later.Add(3*time.Hour))
	w.add(3<<40, later.Add(3*time.Hour+50*time.Minute))
	w.add(3<<40, later.Add(3*time.Hour+10*time.Minute))
	w.expire(later.Add(4*time.Hour + 30*time.Minute))
	if !w.has(3 << 40) {
		t.Error("an id last added 40 minutes ago: got absent, want its newest bucket kept")
	}
}

func BenchmarkIDWindow(b *testing.B) {
	w := newIDWindow(24 * time.Hour)
	now := time.Date(2026, 12, 7, 12, 30, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 1 << 20 {
		w.add(rng.Uint64(), now.Add(-time.Duration(i%24)*time.Hour))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		w.has(uint64(i) * 0x9e3779b97f4a7c15)
	}
}
