package analytics

import (
	"fmt"
	"math/rand/v2"
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
