package analytics_test

import (
	"context"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
)

// TestEventIDClaims: claims are read back by scope within the window,
// looked up exactly by scope and hash, and whole days older than the window
// are dropped.
func TestEventIDClaims(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	write := func(at time.Time, scope uint32, hash uint64, id string, off int64) {
		t.Helper()
		b := analytics.NewBatch()
		b.AddClaim(analytics.Source{Topic: "user-events", Partition: int32(scope), Offset: off}, scope, hash, id)
		if err := conn.Write(ctx, b, at); err != nil {
			t.Fatal(err)
		}
	}
	write(now.Add(-72*time.Hour), 1, 10, "old", 0)
	write(now.Add(-time.Hour), 1, 11, "recent", 1)
	write(now, 2, 12, "other-scope", 2)

	var got []uint64
	if err := conn.LoadEventIDs(ctx, map[string][]uint32{"user-events": {1}, "orders": {2}}, now.Add(-24*time.Hour),
		func(topic string, scope uint32, h uint64, _ time.Time) { got = append(got, h) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != 11 {
		t.Errorf("scope 1 within 24h: got hashes %v, want [11]", got)
	}
	claims, err := conn.LookupEventIDs(ctx, "user-events", map[uint32][]uint64{1: {10, 11}, 2: {12, 99}}, now.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	for _, c := range claims {
		ids[c.EventID] = c.Src.Offset
	}
	if len(ids) != 2 || ids["recent"] != 1 || ids["other-scope"] != 2 {
		t.Errorf("lookup: got %v, want recent at 1 and other-scope at 2 (old is beyond the window)", ids)
	}
	n, err := conn.DropEventIDsBefore(ctx, now.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var left uint64
	if err := conn.DB().QueryRow(ctx, "SELECT count() FROM sink_event_ids").Scan(&left); err != nil {
		t.Fatal(err)
	}
	if n != 1 || left != 2 {
		t.Errorf("drop: got %d days dropped and %d claims left, want 1 and 2", n, left)
	}
}
