package analytics_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
)

// TestClusterMarks runs the sink's write-ahead marks on a real cluster
// (ZooKeeper, 2 shards × 2 replicas): history written before the marks
// existed is read by a scan until migration 008 backfills it per shard;
// then marks are written through the Distributed table next to their
// partition's rows, read back through any node, an open intent is settled
// by its probe both ways (landed, not landed), and a replica that has not
// fetched the newest marks and rows is not the one read.
func TestClusterMarks(t *testing.T) {
	cl := testenv.StartCluster(t, 2, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const db = "surge"
	conn := cl.Node(1, 1).Open(t, db)
	if _, err := conn.Migrate(ctx, analytics.WithCluster(testenv.ClusterName)); err != nil {
		t.Fatalf("Migrate on the cluster: %v", err)
	}
	parts := []int32{0, 1, 2, 3, 4, 5, 6, 7}
	// History from before the marks: rows, no marks, 008 not applied.
	if err := conn.Write(ctx, orderBatch(parts, 0, 10), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := conn.DB().Exec(ctx, "ALTER TABLE schema_migrations DELETE WHERE version = 8"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var n uint64
		if err := conn.DB().QueryRow(ctx, "SELECT count() FROM schema_migrations WHERE version = 8").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("schema_migrations row of 008 not deleted")
		}
	}
	old := cl.Node(2, 2).Open(t, db)
	history := map[analytics.Table]map[int32]analytics.Position{analytics.TableOrders: {}}
	for _, p := range parts {
		history[analytics.TableOrders][p] = analytics.Position{Offset: 9}
	}
	if got := positions(t, old); !reflect.DeepEqual(got, history) {
		t.Fatalf("Positions before 008 (a scan): got %v, want %v", got, history)
	}
	if err := old.WriteMarks(ctx, []analytics.Mark{{Table: analytics.TableOrders, Topic: "orders", Seq: 1, Prev: 9, Hi: 20}}); err != nil {
		t.Fatal(err)
	}
	if n := localMarks(t, cl, db); n != 0 {
		t.Fatalf("marks written before 008: got %d rows, want none", n)
	}
	// The plain Migrate a command runs at start applies 008, per shard.
	if got, err := old.Migrate(ctx); err != nil || !reflect.DeepEqual(got, []string{"008_cluster_sink_offsets"}) {
		t.Fatalf("plain Migrate: applied %v (%v), want 008_cluster_sink_offsets", got, err)
	}
	fresh := cl.Node(1, 2).Open(t, db)
	if got := positions(t, fresh); !reflect.DeepEqual(got, history) {
		t.Fatalf("Positions after the backfill: got %v, want %v", got, history)
	}
	// Each partition's marks live on the shard that holds its rows.
	shardOf := map[int32]int{}
	for s := 1; s <= 2; s++ {
		for r := 1; r <= 2; r++ {
			for _, p := range partitionsOn(t, cl.Node(s, r).Open(t, db), "orders_local", "kafka_topic = 'orders'") {
				shardOf[p] = s
			}
		}
	}
	for s := 1; s <= 2; s++ {
		for r := 1; r <= 2; r++ {
			for _, p := range partitionsOn(t, cl.Node(s, r).Open(t, db), "sink_offsets_local", "kafka_topic = 'orders'") {
				if shardOf[p] != s {
					t.Errorf("marks of orders/%d on shard %d, its rows on shard %d", p, s, shardOf[p])
				}
			}
		}
	}
	if len(shardOf) != len(parts) {
		t.Fatalf("partitions with rows: got %v, want all of %v", shardOf, parts)
	}

	// A batch between its marks: intents, rows, done marks, for every
	// partition; then intents for two more batches: one whose rows land
	// (a crash before its done mark), one whose rows never do.
	at := time.Now().UTC().Truncate(time.Second)
	writeBatch := func(through *analytics.Conn, ps []int32, first int64, seq uint64, at time.Time, rows, done bool) {
		t.Helper()
		b := orderBatch(ps, first, 10)
		var intents, dones []analytics.Mark
		for _, r := range b.Ranges() {
			m := analytics.Mark{Table: r.Table, Topic: r.Topic, Partition: r.Partition, Seq: seq,
				Prev: first - 1, Hi: r.Hi, IngestedAt: at, Probe: r.Probe}
			intents = append(intents, m)
			m.Seq, m.Done = seq+1, true
			dones = append(dones, m)
		}
		if err := through.WriteMarks(ctx, intents); err != nil {
			t.Fatal(err)
		}
		if rows {
			if err := through.Write(ctx, b, at); err != nil {
				t.Fatal(err)
			}
		}
		if done {
			if err := through.WriteMarks(ctx, dones); err != nil {
				t.Fatal(err)
			}
		}
	}
	writeBatch(conn, parts, 10, 1, at, true, true)
	writeBatch(conn, []int32{0, 1, 2, 3}, 20, 3, at.Add(time.Second), true, false)
	writeBatch(conn, []int32{4, 5, 6, 7}, 20, 3, at.Add(2*time.Second), false, false)
	want := map[analytics.Table]map[int32]analytics.Position{analytics.TableOrders: {}}
	for _, p := range parts {
		want[analytics.TableOrders][p] = analytics.Position{Offset: 19, Seq: 3} // intent not landed
		if p < 4 {
			want[analytics.TableOrders][p] = analytics.Position{Offset: 29, Seq: 3} // landed
		}
	}
	for _, c := range []*analytics.Conn{conn, old} {
		if got := positions(t, c); !reflect.DeepEqual(got, want) {
			t.Errorf("Positions through %s: got %v, want %v", c.Addr(), got, want)
		}
	}

	// Replica 1 of shard 1 falls behind on one table at a time, while
	// batches of shard 1's partitions are written through replica 2 (which
	// takes its own shard's parts locally). It must not be the replica read
	// for what it lacks.
	r1 := cl.Node(1, 1).Open(t, db)
	fetches := func(on bool, tbl string) {
		t.Helper()
		verb := "STOP"
		if on {
			verb = "START"
		}
		if err := r1.DB().Exec(context.Background(), "SYSTEM "+verb+" FETCHES "+tbl); err != nil {
			t.Fatal(err)
		}
	}
	defer fetches(true, "orders_local")
	defer fetches(true, "sink_offsets_local")
	var mine []int32
	for _, p := range parts {
		if shardOf[p] == 1 {
			mine = append(mine, p)
		}
	}
	// until polls query on r1 until it counts n.
	until := func(query string, n int) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			var got uint64
			if err := r1.DB().QueryRow(ctx, query).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got == uint64(n) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s on replica 1 of shard 1: got %d, want %d", query, got, n)
			}
		}
	}

	// It has the newest intents but not the rows they wrote: its probe
	// would say "not landed".
	fetches(false, "orders_local")
	writeBatch(fresh, mine, 30, 5, at.Add(3*time.Second), true, false)
	until("SELECT count() FROM sink_offsets_local WHERE seq = 5", len(mine))
	until("SELECT count() FROM orders_local WHERE kafka_offset = 39", 0)
	for _, p := range mine {
		want[analytics.TableOrders][p] = analytics.Position{Offset: 39, Seq: 5}
	}
	for _, c := range []*analytics.Conn{conn, fresh} {
		if got := positions(t, c); !reflect.DeepEqual(got, want) {
			t.Errorf("Positions through %s, replica 1 of shard 1 without the intents' rows: got %v, want %v", c.Addr(), got, want)
		}
	}

	// It has all rows but not the newest intents: its marks would say 39.
	fetches(false, "sink_offsets_local")
	fetches(true, "orders_local")
	writeBatch(fresh, mine, 40, 6, at.Add(4*time.Second), true, false)
	until("SELECT count() FROM orders_local WHERE kafka_offset = 49", len(mine))
	until("SELECT count() FROM sink_offsets_local WHERE seq = 6", 0)
	for _, p := range mine {
		want[analytics.TableOrders][p] = analytics.Position{Offset: 49, Seq: 6}
	}
	for _, c := range []*analytics.Conn{conn, fresh} {
		if got := positions(t, c); !reflect.DeepEqual(got, want) {
			t.Errorf("Positions through %s, replica 1 of shard 1 without the newest intents: got %v, want %v", c.Addr(), got, want)
		}
	}
}

// positions reads Positions of topic orders through conn. A shard none of
// whose replicas is in sync at that moment (one still copying the log of
// a part just written) is an error the sink retries: so does this.
func positions(t *testing.T, conn *analytics.Conn) map[analytics.Table]map[int32]analytics.Position {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		got, err := conn.Positions(context.Background(), "orders")
		if err == nil {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("Positions through %s: %v", conn.Addr(), err)
		}
	}
}

// localMarks counts the rows of sink_offsets_local over the nodes.
func localMarks(t *testing.T, cl *testenv.Cluster, db string) uint64 {
	t.Helper()
	var total uint64
	for _, n := range cl.Nodes {
		total += localCount(t, n.Open(t, db), "sink_offsets")
	}
	return total
}

// partitionsOn lists the Kafka partitions of the rows of conn's table that
// meet cond.
func partitionsOn(t *testing.T, conn *analytics.Conn, table, cond string) []int32 {
	t.Helper()
	rows, err := conn.DB().Query(context.Background(), "SELECT DISTINCT kafka_partition FROM "+table+" WHERE "+cond+" ORDER BY kafka_partition")
	if err != nil {
		t.Fatalf("partitions of %s on %s: %v", table, conn.Addr(), err)
	}
	defer rows.Close()
	var out []int32
	for rows.Next() {
		var p int32
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}
