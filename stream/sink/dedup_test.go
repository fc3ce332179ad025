package sink_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/control"
	"github.com/surgeio/surge/stream/sink"
)

// withCopies appends a copy (same key, same value, same topic) of about one
// record in every nth of recs, and counts them as duplicates in w. Rejects
// are not copied: a record that fails validation has no event to dedupe.
func withCopies(rng *rand.Rand, recs []*kgo.Record, w *want, nth int) []*kgo.Record {
	out := recs
	for _, r := range recs {
		if rng.IntN(nth) != 0 || !validRecord(r) {
			continue
		}
		out = append(out, &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value})
		w.dups++
		w.total++
	}
	rng.Shuffle(len(out)-len(recs), func(i, j int) {
		out[len(recs)+i], out[len(recs)+j] = out[len(recs)+j], out[len(recs)+i]
	})
	return out
}

// validRecord reports whether the sink stores r as a row (not a reject).
func validRecord(r *kgo.Record) bool {
	rec, err := schemas.Decode(r.Value)
	if err != nil {
		return false
	}
	switch rec.Kind() {
	case schemas.KindCoupon:
		return r.Topic == topics.Coupons
	case schemas.KindUserEvent:
		return r.Topic == topics.UserEvents
	}
	return r.Topic == topics.Orders
}

// reconcile checks records in Kafka = rows + rejects + duplicates, and that
// every duplicate names an original stored with the same event id.
func reconcile(t *testing.T, brokers []string, ch *analytics.Conn) {
	t.Helper()
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topics.Data()...)
	if err != nil {
		t.Fatal(err)
	}
	var inKafka uint64
	ends.Each(func(o kadm.ListedOffset) { inKafka += uint64(o.Offset) })
	var rows, rejects, dups, orphans uint64
	q := `SELECT count() FROM (
		SELECT kafka_offset FROM orders UNION ALL SELECT kafka_offset FROM order_status UNION ALL
		SELECT kafka_offset FROM user_events UNION ALL SELECT kafka_offset FROM coupons)`
	if err := ch.DB().QueryRow(ctx, q).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	rejects, dups = testenv.CountRows(t, ch, "sink_rejects"), testenv.CountRows(t, ch, "sink_duplicates")
	orph := `SELECT count() FROM sink_duplicates AS d ANY LEFT JOIN (
		SELECT event_id, kafka_topic AS original_topic, kafka_partition AS original_partition, kafka_offset AS original_offset, 1 AS found
		FROM (SELECT event_id, kafka_topic, kafka_partition, kafka_offset FROM orders UNION ALL
		      SELECT event_id, kafka_topic, kafka_partition, kafka_offset FROM order_status UNION ALL
		      SELECT event_id, kafka_topic, kafka_partition, kafka_offset FROM user_events UNION ALL
		      SELECT event_id, kafka_topic, kafka_partition, kafka_offset FROM coupons)
		) USING (event_id, original_topic, original_partition, original_offset) WHERE found = 0`
	if err := ch.DB().QueryRow(ctx, orph).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if inKafka != rows+rejects+dups {
		t.Errorf("reconciliation: %d records in Kafka, want rows %d + rejects %d + duplicates %d = %d",
			inKafka, rows, rejects, dups, rows+rejects+dups)
	}
	if orphans != 0 {
		t.Errorf("%d sink_duplicates rows name an original that no raw table holds", orphans)
	}
}

// TestSinkDedupCopies: copies inside one batch, copies arriving batches
// later, and copies after a sink restart are each stored once; every copy is
// a sink_duplicates row and the reconciliation holds.
func TestSinkDedupCopies(t *testing.T) {
	brokers := testenv.Kafka(t, topics.All()...)
	ch := testenv.ClickHouseConn(t)
	rng := rand.New(rand.NewPCG(11, 12))
	recs, w := genRecords(rng, 6000, time.Now().Add(-time.Hour))
	// Phase 1: originals with copies among them (most land in the same batch).
	produce(t, brokers, withCopies(rng, recs, w, 5))
	stop := runSink(t, ch, brokers)
	waitFor(t, ch, w, time.Minute)
	// Phase 2: copies of phase 1's records, batches later.
	later := newWant()
	produce(t, brokers, withCopies(rng, recs, later, 4)[len(recs):])
	w.add(later)
	waitFor(t, ch, w, time.Minute)
	st := stop()
	// Phase 3: a new sink (its dedup state is rebuilt from ClickHouse) and
	// more copies.
	again := newWant()
	produce(t, brokers, withCopies(rng, recs, again, 4)[len(recs):])
	w.add(again)
	stop = runSink(t, ch, brokers)
	waitFor(t, ch, w, time.Minute)
	st2 := stop()
	checkExact(t, ch, w)
	reconcile(t, brokers, ch)
	if got := st.Duplicates + st2.Duplicates; got != int64(w.dups) {
		t.Errorf("stats: got %d duplicates, want %d", got, w.dups)
	}
	t.Logf("%d records, %d copies dropped", w.total, w.dups)
}

// leaveKilledWrite leaves in ClickHouse what a sink killed in the middle of
// its first write leaves: the intents of the write (b's tables, and extra
// when given, for a table whose INSERT did not land) and b's rows.
func leaveKilledWrite(t *testing.T, ch *analytics.Conn, b *analytics.Batch, extra *analytics.Mark) {
	t.Helper()
	ctx := context.Background()
	at := time.Now().UTC().Truncate(time.Second)
	var intents []analytics.Mark
	if extra != nil {
		intents = append(intents, *extra)
	}
	for _, r := range b.Ranges() {
		intents = append(intents, analytics.Mark{Table: r.Table, Topic: r.Topic, Partition: r.Partition, Hi: r.Hi, Probe: r.Probe})
	}
	for i := range intents {
		intents[i].Seq, intents[i].Prev, intents[i].IngestedAt = 1, -1, at
	}
	if err := ch.WriteMarks(ctx, intents); err != nil {
		t.Fatal(err)
	}
	if err := ch.Write(ctx, b, at); err != nil {
		t.Fatal(err)
	}
}

// waitTableCount waits up to a minute for table to hold want rows.
func waitTableCount(t *testing.T, ch *analytics.Conn, table string, want uint64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for testenv.CountRows(t, ch, table) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d rows, want %d", table, testenv.CountRows(t, ch, table), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// expectCopyOfOffset1 produces val (key u-1), a copy of the event stored at
// offset 1 of partition 0, as offset 2, stops the sink once it is stored,
// and checks that ClickHouse holds the two events of offsets 0 and 1 once
// each, one claim each, and the copy as a sink_duplicates row naming
// offset 1. It returns the sink's stats.
func expectCopyOfOffset1(t *testing.T, ch *analytics.Conn, brokers []string, val []byte, stop func() sink.Stats) sink.Stats {
	t.Helper()
	produce(t, brokers, []*kgo.Record{{Topic: topics.UserEvents, Key: []byte("u-1"), Value: val}})
	w := newWant()
	w.rows[analytics.TableUserEvents], w.dups, w.total = 2, 1, 3
	waitFor(t, ch, w, time.Minute)
	st := stop()
	checkExact(t, ch, w)
	if n := testenv.CountRows(t, ch, "sink_dedup_claims"); n != 2 {
		t.Errorf("got %d claims, want 2 (one per stored event)", n)
	}
	var dupOff, origOff int64
	if err := ch.DB().QueryRow(context.Background(), "SELECT kafka_offset, original_offset FROM sink_duplicates").Scan(&dupOff, &origOff); err != nil {
		t.Fatal(err)
	}
	if dupOff != 2 || origOff != 1 {
		t.Errorf("got the copy at offset %d naming %d; want 2 naming 1", dupOff, origOff)
	}
	return st
}

// TestSinkDedupReplayAfterClaims: a sink killed after it wrote a batch's
// claims but before its rows. The next one must keep the same original and
// drop the same copy (the claim names the original), not store both.
func TestSinkDedupReplayAfterClaims(t *testing.T) {
	brokers := testenv.KafkaPartitions(t, 1, topics.All()...)
	ch := testenv.ClickHouseConn(t)
	ctx := context.Background()
	ev := &schemas.UserEvent{EventID: schemas.NewEventID(), UserID: "u-1", SessionID: "s-1",
		Type: schemas.EventAddToCart, SKU: "sku-1", CampaignID: "c", TS: time.Now().UTC().Truncate(time.Millisecond)}
	val, err := schemas.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	other := *ev
	other.EventID = schemas.NewEventID()
	val2, _ := schemas.Encode(&other)
	// offsets 0 (a different event), 1 (the original), 2 (its copy)
	produce(t, brokers, []*kgo.Record{
		{Topic: topics.UserEvents, Key: []byte("u-1"), Value: val2},
		{Topic: topics.UserEvents, Key: []byte("u-1"), Value: val},
		{Topic: topics.UserEvents, Key: []byte("u-1"), Value: val},
	})
	// What the killed sink left: the intent of its write and the claims of
	// offsets 0 and 1, no rows.
	b := analytics.NewBatch()
	b.AddClaim(analytics.Source{Topic: topics.UserEvents, Partition: 0, Offset: 0}, 0, sink.EventHash(other.Kind(), other.EventID), sink.EventHash2(other.Kind(), other.EventID))
	b.AddClaim(analytics.Source{Topic: topics.UserEvents, Partition: 0, Offset: 1}, 0, sink.EventHash(ev.Kind(), ev.EventID), sink.EventHash2(ev.Kind(), ev.EventID))
	leaveKilledWrite(t, ch, b, nil)
	stop := runSink(t, ch, brokers)
	w := newWant()
	w.rows[analytics.TableUserEvents], w.dups, w.total = 2, 1, 3
	waitFor(t, ch, w, time.Minute)
	stop()
	checkExact(t, ch, w)
	var off int64
	if err := ch.DB().QueryRow(ctx, "SELECT kafka_offset FROM user_events WHERE event_id = ?", ev.EventID).Scan(&off); err != nil {
		t.Fatal(err)
	}
	var dupOff, origOff int64
	if err := ch.DB().QueryRow(ctx, "SELECT kafka_offset, original_offset FROM sink_duplicates").Scan(&dupOff, &origOff); err != nil {
		t.Fatal(err)
	}
	if off != 1 || dupOff != 2 || origOff != 1 {
		t.Errorf("got original at offset %d and copy at %d (naming %d); want 1 and 2 (naming 1)", off, dupOff, origOff)
	}
	claims := testenv.CountRows(t, ch, "sink_dedup_claims")
	if claims != 2 {
		t.Errorf("got %d claims, want 2 (none written twice)", claims)
	}
}

// TestSinkDedupReplayAfterRows: a sink killed after a batch's rows landed
// and before its claims did (Write sends them alongside). The next one must
// write the missing claims, not the rows again, and a copy arriving after
// that must be dropped as a copy of the stored row.
func TestSinkDedupReplayAfterRows(t *testing.T) {
	brokers := testenv.KafkaPartitions(t, 1, topics.All()...)
	ch := testenv.ClickHouseConn(t)
	ts := time.Now().UTC().Truncate(time.Millisecond)
	ev := &schemas.UserEvent{EventID: schemas.NewEventID(), UserID: "u-1", SessionID: "s-1",
		Type: schemas.EventAddToCart, SKU: "sku-1", CampaignID: "c", TS: ts}
	other := *ev
	other.EventID = schemas.NewEventID()
	val, err := schemas.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	val2, err := schemas.Encode(&other)
	if err != nil {
		t.Fatal(err)
	}
	// offsets 0 (another event) and 1 (the original)
	produce(t, brokers, []*kgo.Record{
		{Topic: topics.UserEvents, Key: []byte("u-1"), Value: val2},
		{Topic: topics.UserEvents, Key: []byte("u-1"), Value: val},
	})
	// What the killed sink left: the intents of its write and the rows of
	// offsets 0 and 1, no claims.
	b := analytics.NewBatch()
	b.AddUserEvent(analytics.Source{Topic: topics.UserEvents, Partition: 0, Offset: 0}, &other)
	b.AddUserEvent(analytics.Source{Topic: topics.UserEvents, Partition: 0, Offset: 1}, ev)
	// The claims' intent too: the killed write had them in hand.
	leaveKilledWrite(t, ch, b, &analytics.Mark{Table: analytics.TableClaims, Topic: topics.UserEvents, Partition: 0,
		Hi: 1, Probe: fmt.Sprintf("scope_key = %d AND event_hash = %d", analytics.ScopeKey(topics.UserEvents, 0), sink.EventHash(ev.Kind(), ev.EventID))})
	stop := runSink(t, ch, brokers)
	waitTableCount(t, ch, "sink_dedup_claims", 2) // the replayed batch's claims
	st := expectCopyOfOffset1(t, ch, brokers, val, stop)
	if st.Rows != 1 || st.Duplicates != 1 {
		t.Errorf("stats: %d rows written (%d of them copies), want 1 (the copy's sink_duplicates row)", st.Rows, st.Duplicates)
	}
}

// TestSinkDedupClaimsFailRowsLand: in one running sink, a batch's claims
// INSERT fails while its rows land (Write sends them alongside). The retry
// must write the claim alone, not the row again, and a later copy must be
// dropped as a copy of the stored row.
func TestSinkDedupClaimsFailRowsLand(t *testing.T) {
	brokers := testenv.KafkaPartitions(t, 1, topics.All()...)
	ch := testenv.ClickHouseConn(t)
	ctx := context.Background()
	event := func() []byte {
		v, err := schemas.Encode(&schemas.UserEvent{EventID: schemas.NewEventID(), UserID: "u-1", SessionID: "s-1",
			Type: schemas.EventAddToCart, SKU: "sku-1", CampaignID: "c", TS: time.Now().UTC().Truncate(time.Millisecond)})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	stop := runSink(t, ch, brokers)
	produce(t, brokers, []*kgo.Record{{Topic: topics.UserEvents, Key: []byte("u-1"), Value: event()}}) // offset 0
	waitTableCount(t, ch, "sink_dedup_claims", 1)
	// The claims table is away: the next batch's claims INSERT fails, its
	// row lands.
	if err := ch.DB().Exec(ctx, "RENAME TABLE sink_dedup_claims TO sink_claims_away"); err != nil {
		t.Fatal(err)
	}
	val := event()
	produce(t, brokers, []*kgo.Record{{Topic: topics.UserEvents, Key: []byte("u-1"), Value: val}}) // offset 1
	waitTableCount(t, ch, "user_events", 2)
	if err := ch.DB().Exec(ctx, "RENAME TABLE sink_claims_away TO sink_dedup_claims"); err != nil {
		t.Fatal(err)
	}
	waitTableCount(t, ch, "sink_dedup_claims", 2)
	st := expectCopyOfOffset1(t, ch, brokers, val, stop)
	if st.Retries == 0 {
		t.Error("stats: no retried write; the claims INSERT was meant to fail")
	}
}

// TestSinkDedupLegacyClaims: a copy of an event whose claim was written to
// sink_event_ids (before sink_claims replaced it), and one whose claim was
// written to sink_claims (before sink_dedup_claims replaced it), are still
// dropped, naming those claims' originals; a new event is claimed in
// sink_dedup_claims.
func TestSinkDedupLegacyClaims(t *testing.T) {
	brokers := testenv.KafkaPartitions(t, 1, topics.All()...)
	ch := testenv.ClickHouseConn(t)
	ctx := context.Background()
	mk := func() (*schemas.UserEvent, []byte) {
		ev := &schemas.UserEvent{EventID: schemas.NewEventID(), UserID: "u-1", SessionID: "s-1",
			Type: schemas.EventPageView, SKU: "sku-1", CampaignID: "c", TS: time.Now().UTC().Truncate(time.Millisecond)}
		val, err := schemas.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		return ev, val
	}
	old, oldVal := mk()
	mid, midVal := mk()
	_, newVal := mk()
	// The original of old, stored an hour ago at offset 999 of another
	// partition of the scope, claimed the way sinks did before.
	if err := ch.DB().Exec(ctx, fmt.Sprintf(`INSERT INTO sink_event_ids
(scope, event_hash, event_id, kafka_topic, kafka_partition, kafka_offset, ingested_at)
SELECT 0, %d, '%s', '%s', 1, 999, toDateTime(%d)`,
		sink.EventHash(old.Kind(), old.EventID), old.EventID, topics.UserEvents, time.Now().Add(-time.Hour).Unix())); err != nil {
		t.Fatal(err)
	}
	// The original of mid, stored two hours ago at offset 998, claimed in
	// sink_claims by topic name.
	if err := ch.DB().Exec(ctx, fmt.Sprintf(`INSERT INTO sink_claims
(scope, event_hash, event_hash2, kafka_topic, kafka_partition, kafka_offset, ingested_at)
SELECT 0, %d, %d, '%s', 1, 998, toDateTime(%d)`,
		sink.EventHash(mid.Kind(), mid.EventID), sink.EventHash2(mid.Kind(), mid.EventID), topics.UserEvents,
		time.Now().Add(-2*time.Hour).Unix())); err != nil {
		t.Fatal(err)
	}
	produce(t, brokers, []*kgo.Record{
		{Topic: topics.UserEvents, Key: []byte("u-1"), Value: oldVal},
		{Topic: topics.UserEvents, Key: []byte("u-1"), Value: newVal},
		{Topic: topics.UserEvents, Key: []byte("u-1"), Value: midVal},
	})
	stop := runSink(t, ch, brokers)
	w := newWant()
	w.rows[analytics.TableUserEvents], w.dups, w.total = 1, 2, 3
	waitFor(t, ch, w, time.Minute)
	stop()
	checkExact(t, ch, w)
	rows, err := ch.DB().Query(ctx, "SELECT event_id, original_partition, original_offset FROM sink_duplicates ORDER BY kafka_offset")
	if err != nil {
		t.Fatal(err)
	}
	type dup struct {
		id   string
		part int32
		off  int64
	}
	var got []dup
	for rows.Next() {
		var d dup
		if err := rows.Scan(&d.id, &d.part, &d.off); err != nil {
			t.Fatal(err)
		}
		got = append(got, d)
	}
	rows.Close()
	if want := []dup{{old.EventID, 1, 999}, {mid.EventID, 1, 998}}; !slices.Equal(got, want) {
		t.Errorf("duplicates: got %v, want %v (each naming its claim's original)", got, want)
	}
	claims := testenv.CountRows(t, ch, "sink_dedup_claims WHERE kafka_offset = 1")
	if claims != 1 {
		t.Errorf("the new event: %d claims in sink_dedup_claims, want 1", claims)
	}
}

// TestSinkDedupOff: with the window 0 every copy is stored.
func TestSinkDedupOff(t *testing.T) {
	brokers := testenv.KafkaPartitions(t, 2, topics.All()...)
	ch := testenv.ClickHouseConn(t)
	rng := rand.New(rand.NewPCG(13, 14))
	recs, w := genRecords(rng, 1000, time.Now().Add(-time.Hour))
	all := withCopies(rng, recs, w, 5)
	w.rows[analytics.TableUserEvents] += 0
	produce(t, brokers, all)
	stop := runSink(t, ch, brokers, sink.WithDedupWindow(0))
	w2 := newWant()
	w2.total = w.total
	waitFor(t, ch, w2, time.Minute)
	st := stop()
	if st.Duplicates != 0 {
		t.Errorf("dedup off: got %d duplicates, want 0", st.Duplicates)
	}
	got, _, err := counts(context.Background(), ch)
	if err != nil {
		t.Fatal(err)
	}
	if got.total != w.total {
		t.Errorf("dedup off: got %d rows, want %d (copies included)", got.total, w.total)
	}
	_ = fmt.Sprint()
}

// TestSinkDedupProbedAhead: while the flusher writes a batch it probes the
// next one against the dedup windows; copies of the batch being written,
// and of earlier ones, are still found (their claims are read once those
// batches landed), each stored once.
func TestSinkDedupProbedAhead(t *testing.T) {
	brokers := testenv.Kafka(t, topics.All()...)
	ch := testenv.ClickHouseConn(t)
	rng := rand.New(rand.NewPCG(21, 22))
	recs, w := genRecords(rng, 6000, time.Now().Add(-time.Hour))
	stop := runSink(t, ch, brokers, sink.WithBatchRows(200))
	// Chunks of 300 records, each with copies of about a third of the chunk
	// before it, produced while the sink runs: polls take a chunk or two,
	// so the next batch is handed off while one is written, and most
	// copies are in a batch after their original's.
	for c := 0; c < len(recs); c += 300 {
		chunk := recs[c:min(c+300, len(recs))]
		if c > 0 {
			prev := recs[c-300 : c]
			chunk = append(slices.Clone(chunk), withCopies(rng, prev, w, 3)[len(prev):]...)
		}
		produce(t, brokers, chunk)
		time.Sleep(20 * time.Millisecond)
	}
	waitFor(t, ch, w, time.Minute)
	st := stop()
	checkExact(t, ch, w)
	reconcile(t, brokers, ch)
	if st.Duplicates != int64(w.dups) {
		t.Errorf("stats: got %d duplicates, want %d", st.Duplicates, w.dups)
	}
	if st.ProbedAhead == 0 {
		t.Errorf("no batch was probed ahead in %d batches: the test does not cover the path", st.Batches)
	}
	t.Logf("%d records, %d copies dropped, %d of %d batches probed ahead", w.total, w.dups, st.ProbedAhead, st.Batches)
}

// TestSinkDedupOutOfScopeFirst: a record put on another partition than
// murmur2's (a foreign producer) and a copy of it on murmur2's partition,
// in one batch, whichever comes first: the event is stored once.
func TestSinkDedupOutOfScopeFirst(t *testing.T) {
	const parts = 4
	brokers := testenv.KafkaPartitions(t, parts, topics.All()...)
	ch := testenv.ClickHouseConn(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	const users = 40
	for i := range users {
		user := fmt.Sprintf("u-%d", i)
		v := userEvent(t, user)
		p := control.KeyPartition([]byte(user), parts)
		// The misplaced copy is produced first, so it precedes the other
		// in the batch whenever its partition is read first.
		recs = append(recs,
			&kgo.Record{Topic: topics.UserEvents, Partition: (p + 1) % parts, Key: []byte(user), Value: v},
			&kgo.Record{Topic: topics.UserEvents, Partition: p, Key: []byte(user), Value: v})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	w := newWant()
	w.rows[analytics.TableUserEvents], w.dups, w.total = users, users, 2*users
	stop := runSink(t, ch, brokers)
	waitFor(t, ch, w, time.Minute)
	st := stop()
	checkExact(t, ch, w)
	reconcile(t, brokers, ch)
	if st.Batches != 1 {
		t.Logf("%d batches (the case needs both records in one)", st.Batches)
	}
}

// TestSinkDedupCopiesInBatchNoLookup: copies of events whose originals are
// earlier in the same batch are dropped without asking ClickHouse
// (surge_sink_dedup_lookups_total stays 0), each stored once.
func TestSinkDedupCopiesInBatchNoLookup(t *testing.T) {
	brokers := testenv.Kafka(t, topics.All()...)
	ch := testenv.ClickHouseConn(t)
	rng := rand.New(rand.NewPCG(31, 32))
	recs, w := genRecords(rng, 3000, time.Now().Add(-time.Hour))
	// Each copy right after its original: same key, same partition, so
	// both are in the first poll and in one batch.
	var out []*kgo.Record
	for i, r := range recs {
		out = append(out, r)
		if i%3 == 0 && validRecord(r) {
			out = append(out, &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value})
			w.dups++
			w.total++
		}
	}
	produce(t, brokers, out)
	reg := prometheus.NewRegistry()
	stop := runSink(t, ch, brokers, sink.WithRegisterer(reg))
	waitFor(t, ch, w, time.Minute)
	const lookups = "surge_sink_dedup_lookups_total"
	if got := counterSum(t, reg, lookups, nil); got != 0 {
		t.Errorf("lookups: got %v, want 0 (every copy's original is in its batch)", got)
	}
	// Copies of stored events, batches later: each is checked.
	var again []*kgo.Record
	for _, r := range recs {
		if len(again) < 50 && validRecord(r) {
			again = append(again, &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value})
		}
	}
	produce(t, brokers, again)
	w.dups += uint64(len(again))
	w.total += uint64(len(again))
	waitFor(t, ch, w, time.Minute)
	stop()
	checkExact(t, ch, w)
	reconcile(t, brokers, ch)
	if got := counterSum(t, reg, lookups, nil); got != float64(len(again)) {
		t.Errorf("lookups after %d copies of stored events: got %v, want %d", len(again), got, len(again))
	}
}

// TestSinkRefusesTopicIDClash: a sink does not start on a topic whose dedup
// topic id equals that of another topic the database holds sink marks of
// (their claims would share sink_dedup_claims' key ranges), nor on two
// topics of its own with one id; it says which topics.
func TestSinkRefusesTopicIDClash(t *testing.T) {
	a, b := testenv.CollidingTopics(t)
	tps := stream.DefaultTopics()
	tps.UserEvents = a
	brokers := testenv.Kafka(t, tps.All()...)
	ch := testenv.ClickHouseConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ch.WriteMarks(ctx, []analytics.Mark{{Table: analytics.TableUserEvents, Topic: b, Partition: 0, Seq: 1,
		Done: true, Prev: -1, Hi: 3, IngestedAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	s, err := sink.New(ch, sink.WithClient(stream.ClientConfig{Brokers: brokers}), sink.WithTopics(tps))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run(ctx)
	if !errors.Is(err, sink.ErrConfig) || !strings.Contains(err.Error(), a) || !strings.Contains(err.Error(), b) {
		t.Errorf("Run with marks of %s in the database and topic %s: got %v, want ErrConfig naming both", b, a, err)
	}
	own := stream.DefaultTopics()
	own.UserEvents, own.Coupons = a, b
	if _, err := sink.New(ch, sink.WithClient(stream.ClientConfig{Brokers: brokers}), sink.WithTopics(own)); !errors.Is(err, sink.ErrConfig) {
		t.Errorf("New with topics %s and %s: got %v, want ErrConfig", a, b, err)
	}
}
