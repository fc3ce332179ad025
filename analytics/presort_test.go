package analytics

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/surgeio/surge/schemas"
)

// BenchmarkSortEvents sorts a sink-sized block of user events (200k rows,
// a few campaigns and types, shuffled users): go test -bench SortEvents ./analytics
func BenchmarkSortEvents(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	base := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	fill := func(bt *Batch) {
		bt.Reset()
		for i := range 200_000 {
			bt.AddUserEvent(Source{Topic: "user-events", Partition: int32(i % 8), Offset: int64(i)}, &schemas.UserEvent{
				EventID: fmt.Sprintf("e-%d", i), UserID: fmt.Sprintf("u-%d", rng.IntN(50_000)), SessionID: "s",
				Type: schemas.EventType([]string{"page_view", "search", "add_to_cart"}[rng.IntN(3)]), SKU: "sku",
				CampaignID: fmt.Sprintf("bf-%d", rng.IntN(5)), TS: base.Add(time.Duration(i/2000) * time.Second)})
		}
	}
	bt := NewBatch()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		fill(bt)
		b.StartTimer()
		bt.sortEvents()
	}
}

// TestBucketSortClaims checks the claims' bucket sort against a plain
// sort of the same keys: uniform hashes, equal hashes, clustered hashes,
// one scope, many scopes, several topics, tiny and sink-sized blocks.
func TestBucketSortClaims(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	cases := []struct {
		name          string
		n, scopes     int
		topics        int
		hash          func(i int) uint64
		alreadySorted bool
	}{
		{"uniform", 200_000, 24, 2, func(int) uint64 { return rng.Uint64() }, false},
		{"one scope", 50_000, 1, 1, func(int) uint64 { return rng.Uint64() }, false},
		{"many scopes", 20_000, 5_000, 3, func(int) uint64 { return rng.Uint64() }, false},
		{"equal hashes", 10_000, 4, 1, func(i int) uint64 { return uint64(i % 3) }, false},
		{"clustered", 30_000, 2, 1, func(int) uint64 { return 1<<63 | rng.Uint64N(1<<20) }, false},
		{"extremes", 1_000, 3, 2, func(i int) uint64 { return []uint64{0, 1<<64 - 1, 1 << 63}[i%3] }, false},
		{"tiny", 3, 2, 1, func(int) uint64 { return rng.Uint64() }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p permuter
			for i := range c.n {
				hi := uint64(rng.IntN(c.topics))<<32 | uint64(rng.IntN(c.scopes))
				p.keys = append(p.keys, rowKey{hi: hi, lo: c.hash(i), row: i})
			}
			want := slices.Clone(p.keys)
			slices.SortFunc(want, cmpRowKey)
			p.bucketSort()
			if !slices.Equal(p.keys, want) {
				for i := range want {
					if p.keys[i] != want[i] {
						t.Fatalf("%d keys: first difference at %d: got %+v, want %+v", c.n, i, p.keys[i], want[i])
					}
				}
				t.Fatalf("%d keys: got %d after sorting", c.n, len(p.keys))
			}
		})
	}
}

// BenchmarkSortClaims sorts a sink-sized block of claims (200k, 2 topics,
// 24 scopes): go test -bench SortClaims ./analytics
func BenchmarkSortClaims(b *testing.B) {
	rng := rand.New(rand.NewPCG(9, 10))
	bt := NewBatch()
	topics := []string{"user-events", "orders"}
	for i := range 200_000 {
		bt.AddClaim(Source{Topic: topics[i%7/6], Partition: int32(i % 24), Offset: int64(i)},
			uint32(i%24), rng.Uint64(), rng.Uint64())
	}
	c := bt.claims
	orig := [][]uint64{slices.Clone(c.hash), slices.Clone(c.hash2)}
	keys, tps := slices.Clone(c.scopeKey), slices.Clone(c.topic)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		copy(bt.claims.hash, orig[0])
		copy(bt.claims.hash2, orig[1])
		copy(bt.claims.scopeKey, keys)
		copy(bt.claims.topic, tps)
		b.StartTimer()
		bt.sortClaims()
	}
}

// TestSortClaimsKeepsRows: sortClaims puts claims of several topics in
// (scope_key, event_hash) order and keeps every row whole: its topic (the
// shard key on a cluster is computed from it after the sort), partition,
// offset and both hashes.
func TestSortClaimsKeepsRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	type row struct {
		key, hash, hash2 uint64
		topic            string
		part             int32
		off              int64
	}
	topics := []string{"user-events", "orders", "coupons"}
	bt := NewBatch()
	var want []row
	for i := range 5000 {
		topic := topics[i/100%3] // runs of one topic, as a sink's batch has
		scope := uint32(rng.IntN(6))
		src := Source{Topic: topic, Partition: int32(scope), Offset: int64(i)}
		h, h2 := rng.Uint64(), rng.Uint64()
		bt.AddClaim(src, scope, h, h2)
		want = append(want, row{ScopeKey(topic, scope), h, h2, topic, src.Partition, src.Offset})
	}
	bt.sortClaims()
	c := &bt.claims
	var got []row
	for i := range c.offset {
		got = append(got, row{c.scopeKey[i], c.hash[i], c.hash2[i], c.topic[i], c.partition[i], c.offset[i]})
		if i > 0 && (c.scopeKey[i] < c.scopeKey[i-1] || c.scopeKey[i] == c.scopeKey[i-1] && c.hash[i] < c.hash[i-1]) {
			t.Fatalf("row %d out of (scope_key, event_hash) order", i)
		}
	}
	byOffset := func(a, b row) int { return int(a.off - b.off) }
	slices.SortFunc(got, byOffset)
	if !slices.Equal(got, want) {
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("offset %d: got %+v, want %+v", want[i].off, got[i], want[i])
			}
		}
	}
}
