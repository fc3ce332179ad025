package analytics_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/schemas"
)

func TestBatchRanges(t *testing.T) {
	b := analytics.NewBatch()
	order := func(off int64) *schemas.Order {
		return &schemas.Order{EventID: "o", CampaignID: fmt.Sprint("c", off), CreatedAt: time.Unix(1_700_000_000+off, 0)}
	}
	for _, off := range []int64{3, 10, 7} {
		b.AddOrder(analytics.Source{Topic: "orders", Partition: 0, Offset: off}, order(off))
	}
	b.AddOrder(analytics.Source{Topic: "orders", Partition: 1, Offset: 5}, order(5))
	b.AddReject(analytics.Source{Topic: "orders", Partition: 1, Offset: 6}, "bad", []byte("x"))
	got := b.Ranges()
	want := []analytics.Range{
		{Table: analytics.TableOrders, Topic: "orders", Partition: 0, Hi: 10, Probe: "campaign_id = 'c10' AND created_at = toDateTime(1700000010)"},
		{Table: analytics.TableOrders, Topic: "orders", Partition: 1, Hi: 5, Probe: "campaign_id = 'c5' AND created_at = toDateTime(1700000005)"},
		{Table: analytics.TableSinkRejects, Topic: "orders", Partition: 1, Hi: 6},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Ranges() = %v, want %v", got, want)
	}
	// Partitions interleaved: a partition's earlier run may hold its
	// highest offset.
	b.Reset()
	for _, r := range []struct {
		part int32
		off  int64
	}{{0, 2}, {1, 9}, {0, 1}, {1, 4}, {0, 8}, {0, 6}} {
		b.AddOrder(analytics.Source{Topic: "orders", Partition: r.part, Offset: r.off}, order(r.off))
	}
	got = b.Ranges()
	want = []analytics.Range{
		{Table: analytics.TableOrders, Topic: "orders", Partition: 0, Hi: 8, Probe: "campaign_id = 'c8' AND created_at = toDateTime(1700000008)"},
		{Table: analytics.TableOrders, Topic: "orders", Partition: 1, Hi: 9, Probe: "campaign_id = 'c9' AND created_at = toDateTime(1700000009)"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("interleaved: Ranges() = %v, want %v", got, want)
	}
}

// TestPositions checks each state a key's last mark can be in: done, an
// intent whose INSERT landed, an intent whose INSERT did not, and no mark.
func TestPositions(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	ctx := context.Background()
	landedAt := time.Date(2026, 11, 27, 10, 0, 5, 0, time.UTC)
	lostAt := landedAt.Add(time.Second)

	// The INSERT of partition 1 landed; that of partition 2 (which held
	// offsets up to 3 already) never did.
	b := analytics.NewBatch()
	b.AddOrder(analytics.Source{Topic: "orders", Partition: 1, Offset: 4}, &schemas.Order{EventID: "a"})
	b.AddOrder(analytics.Source{Topic: "orders", Partition: 1, Offset: 5}, &schemas.Order{EventID: "b"})
	if err := conn.Write(ctx, b, landedAt); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	// A row of partition 2 from an earlier second must not count as the
	// lost INSERT having landed.
	b.AddOrder(analytics.Source{Topic: "orders", Partition: 2, Offset: 3}, &schemas.Order{EventID: "c"})
	if err := conn.Write(ctx, b, landedAt); err != nil {
		t.Fatal(err)
	}
	// Claims of partition 4 landed, with the intent their Range gives;
	// those of partition 6 never did (the same probe, another offset).
	b.Reset()
	b.AddClaim(analytics.Source{Topic: "orders", Partition: 4, Offset: 20}, 4, 0xabc, 0xdef)
	if err := conn.Write(ctx, b, landedAt); err != nil {
		t.Fatal(err)
	}
	claimRange := b.Ranges()[0]
	marks := []analytics.Mark{
		{Table: analytics.TableClaims, Topic: "orders", Partition: 4, Seq: 2, Prev: 10, Hi: 20, IngestedAt: landedAt, Probe: claimRange.Probe},
		{Table: analytics.TableClaims, Topic: "orders", Partition: 6, Seq: 2, Prev: 10, Hi: 20, IngestedAt: landedAt, Probe: claimRange.Probe},
		// An intent into the claims table before migration 010, never
		// settled: not read (its probe names columns sink_dedup_claims
		// does not have).
		{Table: analytics.Table("sink_claims"), Topic: "orders", Partition: 4, Seq: 3, Prev: 20, Hi: 30, IngestedAt: lostAt,
			Probe: "scope = 4 AND event_hash = 1"},
		{Table: analytics.TableOrders, Topic: "orders", Partition: 0, Seq: 1, Prev: -1, Hi: 8, IngestedAt: landedAt},
		{Table: analytics.TableOrders, Topic: "orders", Partition: 0, Seq: 2, Done: true, Prev: -1, Hi: 8, IngestedAt: landedAt},
		{Table: analytics.TableOrders, Topic: "orders", Partition: 1, Seq: 7, Prev: 3, Hi: 5, IngestedAt: landedAt},
		{Table: analytics.TableOrders, Topic: "orders", Partition: 2, Seq: 4, Done: true, Prev: -1, Hi: 3, IngestedAt: landedAt},
		{Table: analytics.TableOrders, Topic: "orders", Partition: 2, Seq: 5, Prev: 3, Hi: 9, IngestedAt: lostAt},
		{Table: analytics.TableOrderStatus, Topic: "orders", Partition: 3, Seq: 1, Prev: -1, Hi: 2, IngestedAt: lostAt},
		{Table: analytics.TableUserEvents, Topic: "user-events", Partition: 0, Seq: 1, Done: true, Prev: -1, Hi: 1, IngestedAt: lostAt},
	}
	if err := conn.WriteMarks(ctx, marks); err != nil {
		t.Fatal(err)
	}
	got, err := conn.Positions(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	want := map[analytics.Table]map[int32]analytics.Position{
		analytics.TableOrders: {
			0: {Offset: 8, Seq: 2},
			1: {Offset: 5, Seq: 7},
			2: {Offset: 3, Seq: 5},
		},
		analytics.TableOrderStatus: {3: {Offset: -1, Seq: 1}},
		analytics.TableClaims:      {4: {Offset: 20, Seq: 2}, 6: {Offset: 10, Seq: 2}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Positions(orders) = %v, want %v", got, want)
	}
	// Probes through the ORDER BY columns, with values that need quoting.
	b.Reset()
	tricky := `it's \ "black" friday`
	b.AddUserEvent(analytics.Source{Topic: "user-events", Partition: 1, Offset: 10},
		&schemas.UserEvent{EventID: "e", CampaignID: tricky, Type: schemas.EventAddToCart, TS: landedAt})
	if err := conn.Write(ctx, b, landedAt); err != nil {
		t.Fatal(err)
	}
	b.AddUserEvent(analytics.Source{Topic: "user-events", Partition: 2, Offset: 11},
		&schemas.UserEvent{EventID: "f", CampaignID: tricky, Type: schemas.EventAddToCart, TS: landedAt})
	var intents []analytics.Mark
	for _, r := range b.Ranges() {
		if r.Probe == "" {
			t.Errorf("range %v: no probe for user_events", r)
		}
		intents = append(intents, analytics.Mark{Table: r.Table, Topic: r.Topic, Partition: r.Partition,
			Seq: 3, Prev: 1, Hi: r.Hi, IngestedAt: landedAt, Probe: r.Probe})
	}
	if err := conn.WriteMarks(ctx, intents); err != nil {
		t.Fatal(err)
	}
	got, err = conn.Positions(ctx, "user-events")
	if err != nil {
		t.Fatal(err)
	}
	want = map[analytics.Table]map[int32]analytics.Position{analytics.TableUserEvents: {
		0: {Offset: 1, Seq: 1},
		1: {Offset: 10, Seq: 3}, // landed (the write above)
		2: {Offset: 1, Seq: 3},  // never written
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Positions(user-events) = %v, want %v", got, want)
	}

	if got, err := conn.Positions(ctx, "orders' OR '1'='1"); err != nil || len(got) != 0 {
		t.Errorf("Positions(injection) = %v, %v; want empty", got, err)
	}
}

// TestPositionsBackfill checks that migration 005 turns history written
// before the marks existed into done marks.
func TestPositionsBackfill(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	ctx := context.Background()
	b := analytics.NewBatch()
	b.AddOrder(analytics.Source{Topic: "orders", Partition: 0, Offset: 41}, &schemas.Order{EventID: "a"})
	b.AddReject(analytics.Source{Topic: "orders", Partition: 0, Offset: 42}, "bad", []byte("x"))
	if err := conn.Write(ctx, b, time.Now()); err != nil {
		t.Fatal(err)
	}
	// Re-run the backfill statements the way a first upgrade does.
	if err := conn.DB().Exec(ctx, "ALTER TABLE schema_migrations DELETE WHERE version = 5"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n uint64
		if err := conn.DB().QueryRow(ctx, "SELECT count() FROM schema_migrations WHERE version = 5").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("schema_migrations row of 005 not deleted")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := conn.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := conn.Positions(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	want := map[analytics.Table]map[int32]analytics.Position{
		analytics.TableOrders:      {0: {Offset: 41}},
		analytics.TableSinkRejects: {0: {Offset: 42}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Positions(orders) after backfill = %v, want %v", got, want)
	}
}
