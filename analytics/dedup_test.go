package analytics_test

import (
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/schemas"
)

// TestEventIDClaims: claims are read back by scope within the window,
// looked up exactly by scope and hash, and whole days older than the window
// are dropped. Claims still in the table that held them before sink_claims
// (with the event_id instead of a second hash) are read and dropped alike.
func TestEventIDClaims(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	write := func(at time.Time, scope uint32, hash, hash2 uint64, off int64) {
		t.Helper()
		b := analytics.NewBatch()
		b.AddClaim(analytics.Source{Topic: "user-events", Partition: int32(scope), Offset: off}, scope, hash, hash2)
		if err := conn.Write(ctx, b, at); err != nil {
			t.Fatal(err)
		}
	}
	write(now.Add(-72*time.Hour), 1, 10, 110, 0)
	write(now.Add(-time.Hour), 1, 11, 111, 1)
	write(now, 2, 12, 112, 2)
	// Written to sink_claims, before sink_dedup_claims existed: one in
	// the window, one older.
	if err := conn.DB().Exec(ctx, fmt.Sprintf(`INSERT INTO sink_claims
(scope, event_hash, event_hash2, kafka_topic, kafka_partition, kafka_offset, ingested_at)
SELECT 1, 15, 115, 'user-events', 1, 5, toDateTime(%d) UNION ALL
SELECT 1, 16, 116, 'user-events', 1, 6, toDateTime(%d)`,
		now.Add(-3*time.Hour).Unix(), now.Add(-96*time.Hour).Unix())); err != nil {
		t.Fatal(err)
	}
	// Written before sink_claims existed: one in the window, one older.
	if err := conn.DB().Exec(ctx, fmt.Sprintf(`INSERT INTO sink_event_ids
(scope, event_hash, event_id, kafka_topic, kafka_partition, kafka_offset, ingested_at)
SELECT 1, 13, 'legacy', 'user-events', 1, 3, toDateTime(%d) UNION ALL
SELECT 1, 14, 'legacy-old', 'user-events', 1, 4, toDateTime(%d)`,
		now.Add(-2*time.Hour).Unix(), now.Add(-96*time.Hour).Unix())); err != nil {
		t.Fatal(err)
	}

	var got []uint64
	if err := conn.LoadEventIDs(ctx, map[string][]uint32{"user-events": {1}, "orders": {2}}, now.Add(-24*time.Hour),
		func(topic string, scope uint32, h uint64, _ time.Time) { got = append(got, h) }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, []uint64{11, 13, 15}) {
		t.Errorf("scope 1 within 24h: got hashes %v, want [11 13 15]", got)
	}
	claims, err := conn.LookupEventIDs(ctx, "user-events", map[uint32][]uint64{1: {10, 11, 13, 14, 15, 16}, 2: {12, 99}}, now.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	type named struct {
		hash2 uint64
		id    string
	}
	byOffset := map[int64]named{}
	for _, c := range claims {
		byOffset[c.Src.Offset] = named{c.Hash2, c.EventID}
		if c.Src.Topic != "user-events" || c.Scope != uint32(c.Src.Partition) {
			t.Errorf("claim of offset %d: topic %q scope %d, want user-events scope %d", c.Src.Offset, c.Src.Topic, c.Scope, c.Src.Partition)
		}
	}
	want := map[int64]named{1: {111, ""}, 2: {112, ""}, 3: {0, "legacy"}, 5: {115, ""}}
	if !maps.Equal(byOffset, want) {
		t.Errorf("lookup: got %v, want %v (offsets 0, 4 and 6 are beyond the window)", byOffset, want)
	}
	n, err := conn.DropEventIDsBefore(ctx, now.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var left, byNameLeft, legacyLeft uint64
	if err := conn.DB().QueryRow(ctx, "SELECT count() FROM sink_dedup_claims").Scan(&left); err != nil {
		t.Fatal(err)
	}
	if err := conn.DB().QueryRow(ctx, "SELECT count() FROM sink_claims").Scan(&byNameLeft); err != nil {
		t.Fatal(err)
	}
	if err := conn.DB().QueryRow(ctx, "SELECT count() FROM sink_event_ids").Scan(&legacyLeft); err != nil {
		t.Fatal(err)
	}
	if n != 3 || left != 2 || byNameLeft != 1 || legacyLeft != 1 {
		t.Errorf("drop: got %d days dropped, %d + %d + %d claims left, want 3 days, 2 + 1 + 1 claims", n, left, byNameLeft, legacyLeft)
	}
}

// TestClaimsSentInKeyOrder: a batch's claims, added in offset order, are
// stored exactly (each hash with its own provenance) whatever order the
// sink sends them in.
func TestClaimsSentInKeyOrder(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	ctx := context.Background()
	b := analytics.NewBatch()
	type claim struct {
		topic       string
		part        int32
		off         int64
		scope       uint32
		hash, hash2 uint64
	}
	var want []claim
	for i := 0; i < 1000; i++ {
		topic := []string{"user-events", "orders"}[i%2]
		c := claim{topic, int32(i % 3), int64(i), uint32(i % 5), uint64(i) * 0x9e3779b97f4a7c15, uint64(i)}
		want = append(want, c)
		b.AddClaim(analytics.Source{Topic: c.topic, Partition: c.part, Offset: c.off}, c.scope, c.hash, c.hash2)
	}
	ranges := b.Ranges()
	if err := conn.Write(ctx, b, time.Time{}); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.DB().Query(ctx, "SELECT scope_key, kafka_partition, kafka_offset, event_hash, event_hash2 FROM sink_dedup_claims ORDER BY kafka_offset")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	byID := map[uint32]string{analytics.TopicID("user-events"): "user-events", analytics.TopicID("orders"): "orders"}
	var got []claim
	for rows.Next() {
		var c claim
		var key uint64
		if err := rows.Scan(&key, &c.part, &c.off, &c.hash, &c.hash2); err != nil {
			t.Fatal(err)
		}
		c.topic, c.scope = byID[uint32(key>>32)], uint32(key)
		got = append(got, c)
	}
	if !slices.Equal(got, want) {
		t.Errorf("stored claims differ from those added (%d stored, %d added)", len(got), len(want))
	}
	// The write-ahead marks name each partition's highest offset and a
	// probe that finds that row.
	for _, r := range ranges {
		var n uint64
		if err := conn.DB().QueryRow(ctx, "SELECT count() FROM sink_dedup_claims WHERE "+r.Probe+
			" AND kafka_partition = ? AND kafka_offset = ?", r.Partition, r.Hi).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("range %s[%d] up to %d: its probe finds %d rows, want 1", r.Topic, r.Partition, r.Hi, n)
		}
	}
}

// TestLookupManyEventIDs: a lookup of more hashes than one query may name
// (a replayed batch hits every claim) is split, and finds every claim.
func TestLookupManyEventIDs(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	ctx := context.Background()
	b := analytics.NewBatch()
	keys := map[uint32][]uint64{}
	const n = 9000
	for i := range n {
		scope, h := uint32(i%3), uint64(i)*0x9e3779b97f4a7c15+1
		b.AddClaim(analytics.Source{Topic: "orders", Partition: int32(scope), Offset: int64(i)}, scope, h, uint64(i))
		keys[scope] = append(keys[scope], h, h+2) // h+2: never claimed
	}
	if err := conn.Write(ctx, b, time.Time{}); err != nil {
		t.Fatal(err)
	}
	claims, err := conn.LookupEventIDs(ctx, "orders", keys, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for _, c := range claims {
		seen[c.Src.Offset] = true
	}
	if len(claims) != n || len(seen) != n {
		t.Errorf("lookup of %d hashes (%d claimed): got %d claims, %d distinct, want %d", 2*n, n, len(claims), len(seen), n)
	}
}

// TestUserEventsSentInKeyOrder: user events added in offset order are
// stored exactly, each row whole, whatever order the sink sends them in,
// and that order is ClickHouse's own: with few seconds in a block (sorted
// by counting) and with many (sorted by comparing).
func TestUserEventsSentInKeyOrder(t *testing.T) {
	for _, span := range []int{20, 600} {
		t.Run(fmt.Sprintf("%ds", span), func(t *testing.T) { testUserEventsSentInKeyOrder(t, span) })
	}
}

func testUserEventsSentInKeyOrder(t *testing.T, span int) {
	conn := testenv.ClickHouseConn(t)
	ctx := context.Background()
	b := analytics.NewBatch()
	base := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	type row struct {
		id, user, typ, campaign string
		ts                      time.Time
		part                    int32
		off                     int64
	}
	var want []row
	for i := range 3000 {
		r := row{fmt.Sprintf("e-%04d", i), fmt.Sprintf("u-%d", (i*7919)%97), []string{"page_view", "add_to_cart", "search"}[i%3],
			[]string{"bf", "cm", "", "ünï"}[(i/5)%4], base.Add(time.Duration((i*31)%span) * time.Second), int32(i % 4), int64(i)}
		want = append(want, r)
		b.AddUserEvent(analytics.Source{Topic: "user-events", Partition: r.part, Offset: r.off}, &schemas.UserEvent{
			EventID: r.id, UserID: r.user, SessionID: "s-" + r.id, Type: schemas.EventType(r.typ), SKU: "sku-" + r.id,
			CampaignID: r.campaign, TS: r.ts})
	}
	ranges := b.Ranges()
	sent := b.SortedEventKeys()
	if err := conn.Write(ctx, b, time.Time{}); err != nil {
		t.Fatal(err)
	}
	// The one part written holds the rows in ClickHouse's own key order:
	// the sink's order must be the same, or the server sorted again.
	var stored []string
	krows, err := conn.DB().Query(ctx, `SELECT concat(campaign_id, '\0', type, '\0', toString(ts, 'UTC'), '\0', user_id)
FROM user_events SETTINGS max_threads = 1`)
	if err != nil {
		t.Fatal(err)
	}
	for krows.Next() {
		var k string
		if err := krows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		stored = append(stored, k)
	}
	krows.Close()
	if !slices.Equal(stored, sent) {
		i := 0
		for i < min(len(stored), len(sent)) && stored[i] == sent[i] {
			i++
		}
		t.Errorf("the sink's order of user events differs from ClickHouse's key order at row %d of %d", i, len(sent))
	}
	rows, err := conn.DB().Query(ctx, `SELECT event_id, user_id, type, campaign_id, ts, kafka_partition, kafka_offset,
session_id, sku FROM user_events ORDER BY kafka_offset`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []row
	for rows.Next() {
		var r row
		var session, sku string
		if err := rows.Scan(&r.id, &r.user, &r.typ, &r.campaign, &r.ts, &r.part, &r.off, &session, &sku); err != nil {
			t.Fatal(err)
		}
		if session != "s-"+r.id || sku != "sku-"+r.id {
			t.Fatalf("row %s: session %s, sku %s: columns of different rows mixed", r.id, session, sku)
		}
		r.ts = r.ts.UTC()
		got = append(got, r)
	}
	if !slices.Equal(got, want) {
		t.Errorf("stored user events differ from those added (%d stored, %d added)", len(got), len(want))
	}
	for _, r := range ranges {
		var n uint64
		if err := conn.DB().QueryRow(ctx, "SELECT count() FROM user_events WHERE "+r.Probe+
			" AND kafka_topic = ? AND kafka_partition = ? AND kafka_offset = ?", r.Topic, r.Partition, r.Hi).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("range %s[%d] up to %d: its probe finds %d rows, want 1", r.Topic, r.Partition, r.Hi, n)
		}
	}
}

// TestTopicIDClash: two topics of one dedup topic id are refused, among a
// sink's own topics and against the topics the database holds marks of.
func TestTopicIDClash(t *testing.T) {
	for _, name := range []string{"", "orders", "user-events", "ünïcode-topic"} {
		h := fnv.New32a()
		h.Write([]byte(name))
		if got := analytics.TopicID(name); got != h.Sum32() {
			t.Errorf("TopicID(%q) = %d, want FNV-1a %d", name, got, h.Sum32())
		}
	}
	a, b := testenv.CollidingTopics(t)
	if err := analytics.CheckTopicIDs([]string{"orders", a, "user-events", b}); err == nil ||
		!strings.Contains(err.Error(), a) || !strings.Contains(err.Error(), b) {
		t.Errorf("CheckTopicIDs with %s and %s: got %v, want an error naming both", a, b, err)
	}
	if err := analytics.CheckTopicIDs([]string{"orders", "user-events", "coupons", a, a}); err != nil {
		t.Errorf("CheckTopicIDs without a clash (a name twice): %v", err)
	}
	conn := testenv.ClickHouseConn(t)
	ctx := context.Background()
	if err := conn.CheckTopicIDsWith(ctx, []string{a}); err != nil {
		t.Errorf("CheckTopicIDsWith on an empty database: %v", err)
	}
	if err := conn.WriteMarks(ctx, []analytics.Mark{{Table: analytics.TableClaims, Topic: b, Partition: 0, Seq: 1,
		Done: true, Prev: -1, Hi: 5, IngestedAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if err := conn.CheckTopicIDsWith(ctx, []string{"orders", a}); err == nil ||
		!strings.Contains(err.Error(), a) || !strings.Contains(err.Error(), b) {
		t.Errorf("CheckTopicIDsWith(%s) with marks of %s: got %v, want an error naming both", a, b, err)
	}
	if err := conn.CheckTopicIDsWith(ctx, []string{"orders", b}); err != nil {
		t.Errorf("CheckTopicIDsWith(%s), its own marks: %v", b, err)
	}
}
