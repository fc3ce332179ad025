package lag_test

import (
	"context"
	"crypto/rand"
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/stream/lag"
)

// TestSampleLagRecordsAndSeconds: lag in records is exact and lag in
// seconds is the age of the record at the committed offset (or at the log
// start with no commit), against records with known timestamps.
func TestSampleLagRecordsAndSeconds(t *testing.T) {
	c := newCluster(t, 4, "orders")
	now := time.Now().Truncate(time.Millisecond)
	c.produce(t, "orders", 0, 10, now.Add(-100*time.Second), time.Second) // 0..9: now-100s .. now-91s
	c.produce(t, "orders", 1, 5, now.Add(-50*time.Second), time.Second)   // 0..4: now-50s .. now-46s
	c.produce(t, "orders", 2, 3, now.Add(-20*time.Second), time.Second)   // 0..2: now-20s .. now-18s
	c.commit(t, "billing", "orders", map[int32]int64{0: 4, 2: 3})         // p1, p3: no commit
	c.commit(t, "audit", "orders", map[int32]int64{0: 4})                 // shares billing's p0 position

	m := lag.New(c.cl, lag.WithClock(func() time.Time { return now }))
	snap, err := m.Sample(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		group       string
		partition   int32
		committed   int64
		wantRecords int64
		wantSeconds float64
	}{
		{"billing", 0, 4, 6, 96},  // record 4 is at now-96s
		{"billing", 1, -1, 5, 50}, // no commit: from the log start, record 0 at now-50s
		{"billing", 2, 3, 0, 0},   // caught up
		{"billing", 3, -1, 0, 0},  // empty partition, no commit
		{"audit", 0, 4, 6, 96},
		{"audit", 2, -1, 3, 20},
	}
	for _, tt := range tests {
		g, ok := snap.Group(tt.group)
		if !ok {
			t.Fatalf("snapshot has no group %s: %+v", tt.group, snap)
		}
		p, ok := g.Partition("orders", tt.partition)
		if !ok {
			t.Fatalf("group %s has no orders[%d]: %+v", tt.group, tt.partition, g.Partitions)
		}
		if p.Err != "" {
			t.Errorf("%s orders[%d]: error %s", tt.group, tt.partition, p.Err)
		}
		if p.Committed != tt.committed || p.LagRecords != tt.wantRecords {
			t.Errorf("%s orders[%d]: got committed %d lag %d records, want %d and %d",
				tt.group, tt.partition, p.Committed, p.LagRecords, tt.committed, tt.wantRecords)
		}
		if math.Abs(p.LagSeconds-tt.wantSeconds) > 0.001 {
			t.Errorf("%s orders[%d]: got lag %.3fs, want %.0fs", tt.group, tt.partition, p.LagSeconds, tt.wantSeconds)
		}
	}
	billing, _ := snap.Group("billing")
	if billing.LagRecords != 11 || math.Abs(billing.MaxLagSeconds-96) > 0.001 {
		t.Errorf("billing totals: got %d records, max %.3fs, want 11 and 96s", billing.LagRecords, billing.MaxLagSeconds)
	}
	// Positions read: orders[0]@4 (both groups), [1]@0 (both), [2]@0 (audit).
	if snap.Probed != 3 {
		t.Errorf("first sample: got %d partitions probed, want 3", snap.Probed)
	}
	snap, err = m.Sample(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if snap.Probed != 0 {
		t.Errorf("second sample with nothing moved: got %d partitions probed, want 0 (cached)", snap.Probed)
	}
	if g, _ := snap.Group("billing"); g.MaxLagSeconds < 95 {
		t.Errorf("second sample from the cache: got max lag %.3fs, want 96s", g.MaxLagSeconds)
	}
}

// TestSampleCommitBelowLogStart: records deleted below a group's commit are
// not counted, and the lag seconds come from the first record still stored.
func TestSampleCommitBelowLogStart(t *testing.T) {
	c := newCluster(t, 1, "orders")
	now := time.Now().Truncate(time.Millisecond)
	c.produce(t, "orders", 0, 10, now.Add(-100*time.Second), time.Second)
	c.commit(t, "slow", "orders", map[int32]int64{0: 2})
	del := make(kadm.Offsets)
	del.AddOffset("orders", 0, 5, -1)
	if _, err := c.adm.DeleteRecords(ctxT(t), del); err != nil {
		t.Fatal(err)
	}
	snap, err := lag.New(c.cl, lag.WithClock(func() time.Time { return now })).Sample(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	g, _ := snap.Group("slow")
	p, _ := g.Partition("orders", 0)
	if !p.BelowStart || p.Start != 5 || p.LagRecords != 5 || math.Abs(p.LagSeconds-95) > 0.001 {
		t.Errorf("got below_start=%v start=%d lag=%d records %.3fs, want true, 5, 5 records, 95s",
			p.BelowStart, p.Start, p.LagRecords, p.LagSeconds)
	}
}

// TestSampleTransactions: aborted data and transaction markers are skipped
// when reading the oldest unconsumed record, and a group whose only
// remaining records are markers has no lag.
func TestSampleTransactions(t *testing.T) {
	c := newCluster(t, 1, "coupons")
	now := time.Now().Truncate(time.Millisecond)
	tx, err := kgo.NewClient(kgo.SeedBrokers(c.brokers...), kgo.TransactionalID("lag-test"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	ctx := ctxT(t)
	txn := func(n int, ts time.Time, commit kgo.TransactionEndTry) {
		t.Helper()
		if err := tx.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			r := &kgo.Record{Topic: "coupons", Value: []byte("c"), Timestamp: ts}
			if err := tx.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
	}
	txn(3, now.Add(-80*time.Second), kgo.TryAbort)  // offsets 0-2 aborted, 3 abort marker
	txn(2, now.Add(-40*time.Second), kgo.TryCommit) // offsets 4-5, 6 commit marker
	c.commit(t, "from-start", "coupons", map[int32]int64{0: 0})
	c.commit(t, "after-data", "coupons", map[int32]int64{0: 6})

	snap, err := lag.New(c.cl, lag.WithClock(func() time.Time { return now })).Sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		group       string
		wantRecords int64
		wantSeconds float64
	}{
		{"from-start", 7, 40}, // first consumable record is offset 4, at now-40s
		{"after-data", 0, 0},  // only the commit marker is left
	} {
		g, _ := snap.Group(tt.group)
		p, _ := g.Partition("coupons", 0)
		if p.Err != "" || p.End != 7 || p.LagRecords != tt.wantRecords || math.Abs(p.LagSeconds-tt.wantSeconds) > 0.001 {
			t.Errorf("%s: got end %d, lag %d records %.3fs (err %q), want end 7, %d records, %.0fs",
				tt.group, p.End, p.LagRecords, p.LagSeconds, p.Err, tt.wantRecords, tt.wantSeconds)
		}
	}
}

// TestSampleNamedGroups: WithGroups limits the sample to the named groups,
// and a named group that does not exist is reported, not fatal.
func TestSampleNamedGroups(t *testing.T) {
	c := newCluster(t, 1, "orders")
	c.produce(t, "orders", 0, 3, time.Now(), time.Millisecond)
	c.commit(t, "a", "orders", map[int32]int64{0: 1})
	c.commit(t, "b", "orders", map[int32]int64{0: 2})
	snap, err := lag.New(c.cl, lag.WithGroups("a", "ghost")).Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range snap.Groups {
		names = append(names, g.Group)
	}
	if len(names) != 2 || names[0] != "a" || names[1] != "ghost" {
		t.Fatalf("got groups %v, want [a ghost]", names)
	}
	if g := snap.Groups[1]; g.Err == "" || g.Status != lag.StatusUnknown {
		t.Errorf("ghost: got status %s err %q, want unknown with an error", g.Status, g.Err)
	}
	if g := snap.Groups[0]; g.LagRecords != 2 || g.Status != lag.StatusStopped {
		t.Errorf("a: got %d records, status %s, want 2 and stopped", g.LagRecords, g.Status)
	}
}

// TestSampleLargeBatches: partitions whose first batch is larger than the
// per-partition fetch size are still read (each in a request of its own),
// and a large aborted batch is stepped over.
func TestSampleLargeBatches(t *testing.T) {
	c := newCluster(t, 3, "user-events")
	now := time.Now().Truncate(time.Millisecond)
	big := make([]byte, 100<<10) // random, so that compression keeps it large
	_, _ = rand.Read(big)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.TransactionalID("big"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := ctxT(t)
	produce := func(p int32, age time.Duration, end kgo.TransactionEndTry) {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		r := &kgo.Record{Topic: "user-events", Partition: p, Value: big, Timestamp: now.Add(-age)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(ctx, end); err != nil {
			t.Fatal(err)
		}
	}
	produce(2, 90*time.Second, kgo.TryAbort) // a large aborted batch and its marker first on p2
	for p := int32(0); p < 3; p++ {
		produce(p, time.Duration(10*(p+1))*time.Second, kgo.TryCommit)
	}
	c.commit(t, "g", "user-events", map[int32]int64{0: 0, 1: 0, 2: 0})
	snap, err := lag.New(c.cl, lag.WithClock(func() time.Time { return now })).Sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := snap.Group("g")
	for p := int32(0); p < 3; p++ {
		pl, _ := g.Partition("user-events", p)
		if want := float64(10 * (p + 1)); pl.Err != "" || math.Abs(pl.LagSeconds-want) > 0.001 {
			t.Errorf("user-events[%d]: got %.3fs (err %q), want %.0fs", p, pl.LagSeconds, pl.Err, want)
		}
	}
}

// TestSampleNoGroups: a cluster without groups gives an empty snapshot.
func TestSampleNoGroups(t *testing.T) {
	c := newCluster(t, 1, "orders")
	snap, err := lag.New(c.cl).Sample(ctxT(t))
	if err != nil || len(snap.Groups) != 0 {
		t.Errorf("got %+v, %v; want no groups and no error", snap, err)
	}
}
