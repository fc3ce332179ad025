package analytics_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/schemas"
)

// BenchmarkWrite measures the sink's hot path: building and writing a batch
// of 50k user events (one INSERT, one part). It reports rows/s.
//
//	go test ./analytics -run '^$' -bench Write -benchtime 20x
func BenchmarkWrite(b *testing.B) {
	const rows = 50_000
	conn := testenv.ClickHouseConn(b)
	ctx := context.Background()
	events := make([]schemas.UserEvent, rows)
	types := []schemas.EventType{schemas.EventPageView, schemas.EventSearch, schemas.EventAddToCart, schemas.EventCheckoutStarted}
	t0 := time.Date(2024, 11, 29, 10, 0, 0, 0, time.UTC)
	for i := range events {
		events[i] = schemas.UserEvent{
			EventID:    fmt.Sprintf("01JDQ%021d", i),
			Version:    1,
			UserID:     fmt.Sprintf("user-%06d", i%50_000),
			SessionID:  fmt.Sprintf("sess-%08d", i/10),
			Type:       types[i%len(types)],
			SKU:        fmt.Sprintf("SKU-%05d", i%2000),
			CampaignID: "black-friday-2024",
			TS:         t0.Add(time.Duration(i) * time.Millisecond),
		}
	}
	batch := analytics.NewBatch()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		batch.Reset()
		for j := range events {
			batch.AddUserEvent(analytics.Source{Topic: "user-events", Partition: int32(j % 8), Offset: int64(i*rows + j)}, &events[j])
		}
		if err := conn.Write(ctx, batch, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
