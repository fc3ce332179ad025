package analytics_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/schemas"
)

// orderBatch is n orders of topic "orders" for each of partitions, with
// offsets from first on.
func orderBatch(partitions []int32, first, n int64) *analytics.Batch {
	b := analytics.NewBatch()
	created := time.Date(2025, 11, 28, 10, 0, 0, 0, time.UTC)
	for _, p := range partitions {
		for off := first; off < first+n; off++ {
			b.AddOrder(analytics.Source{Topic: "orders", Partition: p, Offset: off}, &schemas.Order{
				EventID: fmt.Sprintf("e-%d-%d", p, off), Version: 1, OrderID: fmt.Sprintf("o-%d-%d", p, off),
				UserID: fmt.Sprintf("u-%d", off%7), Items: []schemas.Item{{SKU: "sku-1", Qty: 1, UnitPrice: 100}},
				Amount: 100, Currency: "EUR", CampaignID: "bf", Priority: schemas.PriorityNormal,
				CreatedAt: created.Add(time.Duration(off) * time.Second),
			})
		}
	}
	return b
}

// localCount counts table's rows on node (its local table).
func localCount(t *testing.T, conn *analytics.Conn, table string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.DB().QueryRow(context.Background(), "SELECT count() FROM "+table+analytics.LocalSuffix).Scan(&n); err != nil {
		t.Fatalf("count %s on %s: %v", table, conn.Addr(), err)
	}
	return n
}

// TestClusterLive runs the cluster schema on a real cluster (ZooKeeper and
// 2 shards × 2 replicas): Migrate(WithCluster) from one node and again from
// another (idempotent), writes through the Distributed tables with the
// cluster settings set per query (the profile has none of them), and
// checks exact counts per shard and per replica, watermarks read from an
// in-sync replica per shard, writes while one replica of a shard is killed,
// and the replica catching up when it comes back.
func TestClusterLive(t *testing.T) {
	cl := testenv.StartCluster(t, 2, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const db = "surge"
	conn := cl.Nodes[0].Open(t, db)
	start := time.Now()
	applied, err := conn.Migrate(ctx, analytics.WithCluster(testenv.ClusterName))
	if err != nil {
		t.Fatalf("Migrate on the cluster: %v", err)
	}
	t.Logf("migrated %v in %s", applied, time.Since(start).Round(time.Millisecond))
	other := cl.Nodes[3].Open(t, db)
	if again, err := other.Migrate(ctx, analytics.WithCluster(testenv.ClusterName)); err != nil || len(again) != 0 {
		t.Fatalf("Migrate again through another node: applied %v, err %v; want nothing to do", again, err)
	}
	if again, err := other.Migrate(ctx); err != nil || len(again) != 0 {
		t.Fatalf("plain Migrate on a cluster node: applied %v, err %v; want nothing to do", again, err)
	}
	// A database whose orders table is Distributed but that lacks
	// migrations (a newer surge) gets them in cluster form from the plain
	// Migrate every command runs.
	partial := cl.Nodes[2].Open(t, "surge_partial")
	// (It has the columns the backfill of campaign_buyers reads.)
	if err := partial.DB().Exec(ctx, `CREATE TABLE orders (event_id String, campaign_id String, currency String,
    user_id String, created_at DateTime, kafka_topic String, kafka_partition Int32)
ENGINE = Distributed(`+testenv.ClusterName+`, surge_partial, orders_local, rand())`); err != nil {
		t.Fatal(err)
	}
	if got, err := partial.Migrate(ctx); err != nil || len(got) == 0 {
		t.Fatalf("plain Migrate on a cluster database with pending migrations: applied %v, %v; want them applied", got, err)
	}
	var engine string
	if err := nodesEngine(ctx, cl.Nodes[1], "surge_partial", "user_events_local", &engine); err != nil || !strings.HasPrefix(engine, "Replicated") {
		t.Errorf("user_events_local on another node after a plain Migrate: engine %q (%v), want Replicated*", engine, err)
	}
	if name, err := other.Cluster(ctx); err != nil || name != testenv.ClusterName {
		t.Fatalf("Cluster: got %q (%v), want %q", name, err, testenv.ClusterName)
	}

	nodes := make([]*analytics.Conn, len(cl.Nodes))
	for i, n := range cl.Nodes {
		nodes[i] = n.Open(t, db)
	}
	parts := []int32{0, 1, 2, 3, 4, 5, 6, 7}
	if err := conn.Write(ctx, orderBatch(parts, 0, 10), time.Time{}); err != nil {
		t.Fatalf("write through the Distributed table: %v", err)
	}
	// insert_distributed_sync=1 per query: every row is on its shard when
	// Write returns.
	// Replication is asynchronous (insert_quorum=0): a shard's rows are on
	// one of its replicas when Write returns.
	var total uint64
	for s := 1; s <= 2; s++ {
		n := max(localCount(t, nodes[(s-1)*2], "orders"), localCount(t, nodes[(s-1)*2+1], "orders"))
		if n == 0 {
			t.Errorf("shard %d holds no orders right after the write, want some (insert_distributed_sync=1)", s)
		}
		total += n
	}
	if total != 80 {
		t.Errorf("orders over both shards right after the write: got %d, want 80", total)
	}
	checkWatermarks := func(want int64, through ...*analytics.Conn) {
		t.Helper()
		for _, c := range through {
			wm, err := c.Watermarks(ctx, "orders")
			if err != nil {
				t.Fatalf("watermarks through %s: %v", c.Addr(), err)
			}
			for _, p := range parts {
				if got := wm[analytics.TableOrders][p]; got != want {
					t.Errorf("watermark of orders/%d through %s: got %d, want %d", p, c.Addr(), got, want)
				}
			}
		}
	}
	checkWatermarks(9, conn, other)
	checkClusterHealth(t, conn, 80, "")

	// One replica of shard 2 down: writes go on (no quorum), the
	// watermarks come from the live replica.
	down := cl.Node(2, 2)
	if err := down.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := conn.Write(ctx, orderBatch(parts, 10, 10), time.Time{}); err != nil {
		t.Fatalf("write with replica 2 of shard 2 down: %v", err)
	}
	checkWatermarks(19, conn)
	checkClusterHealth(t, conn, 160, down.Addr())
	// A list of nodes fails over past the one that is down.
	failover, err := analytics.Open(ctx, analytics.Config{Addr: down.Addr() + "," + cl.Node(1, 2).Addr(), Database: db})
	if err != nil {
		t.Fatalf("open a node list whose first node is down: %v", err)
	}
	rb := analytics.NewBatch()
	rb.AddReject(analytics.Source{Topic: "orders", Partition: 3, Offset: 1000}, "test", []byte("x"))
	if err := failover.Write(ctx, rb, time.Time{}); err != nil {
		t.Errorf("write through a node list whose first node is down: %v", err)
	}
	if wm, err := failover.Watermarks(ctx, "orders"); err != nil || wm[analytics.TableSinkRejects][3] != 1000 {
		t.Errorf("watermark of sink_rejects/3 through the node list: got %v (%v), want 1000", wm[analytics.TableSinkRejects], err)
	}
	failover.Close()

	// Dedup claims older than the window are dropped on every node.
	cb := analytics.NewBatch()
	for p := int32(0); p < 8; p++ {
		cb.AddClaim(analytics.Source{Topic: "orders", Partition: p, Offset: 5000}, 1, uint64(p), uint64(100+p))
	}
	if err := conn.Write(ctx, cb, time.Now().Add(-72*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// A partition's claims land on the shard of its rows (shard_key),
	// where its marks are and its open intents are probed. (Shard 2's
	// live replica took every write since its other replica was killed.)
	claimParts := map[int32]int{}
	for s, live := range [][]*analytics.Conn{{nodes[0], nodes[1]}, {nodes[2]}} {
		rows := map[int32]bool{}
		for _, n := range live {
			for _, p := range partitionsOn(t, n, "orders"+analytics.LocalSuffix, "1") {
				rows[p] = true
			}
			for _, p := range partitionsOn(t, n, string(analytics.TableClaims)+analytics.LocalSuffix, "1") {
				claimParts[p] = s + 1
			}
		}
		for p, shard := range claimParts {
			if shard == s+1 && !rows[p] {
				t.Errorf("claims of orders/%d on shard %d, which holds no order of that partition", p, s+1)
			}
		}
	}
	if len(claimParts) != len(parts) {
		t.Errorf("claims found for %d partitions on the live replicas, want %d", len(claimParts), len(parts))
	}
	// The sink's two reads of the claims find each one, on both shards
	// (shard 2 through its live replica): a copy is dropped on a cluster.
	since := time.Now().Add(-73 * time.Hour)
	var hashes []uint64
	for p := range uint64(8) {
		hashes = append(hashes, p)
	}
	found, err := conn.LookupEventIDs(ctx, "orders", map[uint32][]uint64{1: hashes}, since)
	if err != nil {
		t.Fatal(err)
	}
	byHash := map[uint64]analytics.Claim{}
	for _, c := range found {
		byHash[c.Hash] = c
	}
	for p := int32(0); p < 8; p++ {
		want := analytics.Claim{Scope: 1, Hash: uint64(p), Hash2: uint64(100 + p), Src: analytics.Source{Topic: "orders", Partition: p, Offset: 5000}}
		if got := byHash[uint64(p)]; got != want {
			t.Errorf("LookupEventIDs on the cluster, hash %d: got %+v, want %+v", p, got, want)
		}
	}
	loaded := map[uint64]bool{}
	if err := conn.LoadEventIDs(ctx, map[string][]uint32{"orders": {1}}, since, func(topic string, scope uint32, h uint64, _ time.Time) {
		if topic == "orders" && scope == 1 {
			loaded[h] = true
		}
	}); err != nil || len(loaded) != 8 {
		t.Errorf("LoadEventIDs on the cluster: %d of the 8 claims of orders scope 1 (%v)", len(loaded), err)
	}
	// An ALTER on a replica goes to its shard's leader: wait until the live
	// replica of shard 2 took over from the killed one (its ZooKeeper
	// session ended), as a node down for longer than that would be.
	live := cl.Node(2, 1).Open(t, db)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		var leader uint64
		err := live.DB().QueryRow(ctx, `SELECT count() FROM system.replicas
WHERE database = ? AND table = 'sink_dedup_claims_local' AND is_leader`, db).Scan(&leader)
		if err == nil && leader == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica 1 of shard 2 not the leader of sink_dedup_claims_local a minute after replica 2 was killed (%v)", err)
		}
	}
	// One day partition on each shard.
	if n, err := conn.DropEventIDsBefore(ctx, time.Now().Add(-24*time.Hour)); err != nil || n != 2 {
		t.Errorf("DropEventIDsBefore on the cluster with a node down: dropped %d partitions (%v), want 2 (one per shard)", n, err)
	}
	// The other replica of each shard drops them through replication.
	var claims uint64
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		err := conn.DB().QueryRow(ctx, "SELECT count() FROM sink_dedup_claims").Scan(&claims)
		if err == nil && claims == 0 || time.Now().After(deadline) {
			break
		}
	}
	if claims != 0 {
		t.Errorf("claims left after the drop: %d, want 0", claims)
	}
	if ids, err := conn.RunningInserts(ctx, "surge-sink:"); err == nil {
		t.Logf("running inserts right after a node was killed: %v (its ZooKeeper session already expired)", ids)
	} else if !strings.Contains(err.Error(), "ZooKeeper session") {
		t.Errorf("RunningInserts with a node down: got %v, want nil or an error about its ZooKeeper session", err)
	}
	time.Sleep(testenv.ZooKeeperSessionTimeout + time.Second)
	if _, err := conn.RunningInserts(ctx, "surge-sink:"); err != nil {
		t.Errorf("RunningInserts once the killed node's session expired: %v", err)
	}

	if err := down.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	cl.WaitActive(t, db, time.Minute)
	// Every replica of a shard ends with the same rows.
	deadline := time.Now().Add(time.Minute)
	for {
		var got []uint64
		for _, c := range nodes {
			got = append(got, localCount(t, c, "orders"))
		}
		if got[0] == got[1] && got[2] == got[3] && got[0]+got[2] == 160 {
			t.Logf("orders per node (shard 1 r1 r2, shard 2 r1 r2): %v", got)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("orders per node: got %v, want replicas equal and 160 in all", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
	checkWatermarks(19, conn, other)
	if err := conn.DB().QueryRow(ctx, "SELECT count() FROM orders").Scan(&total); err != nil || total != 160 {
		t.Errorf("orders through the Distributed table: got %d (%v), want 160", total, err)
	}

	// A raw part without its view's part on shard 1 (the view detached on
	// the node that takes shard 1's rows), then the repair.
	if err := conn.DB().Exec(ctx, "DETACH TABLE orders_per_minute_mv"); err != nil {
		t.Fatal(err)
	}
	if err := conn.Write(ctx, orderBatch(parts, 20, 10), time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := conn.DB().Exec(ctx, "ATTACH TABLE orders_per_minute_mv"); err != nil {
		t.Fatal(err)
	}
	// Reads through the Distributed tables may pick a replica that is
	// still fetching (insert_quorum=0): wait until they agree.
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if raw, _ := rollupVsRaw(t, conn); raw == 240 {
			break
		}
	}
	if raw, rolled := rollupVsRaw(t, conn); raw != 240 || rolled >= raw {
		t.Fatalf("after writing without the view on one node: raw %d, rollup %d; want 240 and fewer", raw, rolled)
	}
	// The minutes also hold rows written moments ago: settle only past
	// those (nothing writes now).
	time.Sleep(1100 * time.Millisecond)
	fixes, err := conn.RepairRollups(ctx, analytics.RepairOpts{Since: time.Now().Add(-2 * time.Hour), Settle: time.Millisecond})
	if err != nil || len(fixes) == 0 {
		t.Fatalf("repair on the cluster: %d fixes, %v; want some", len(fixes), err)
	}
	// The repair's rows reach the other replica asynchronously too.
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		r1, u1 := rollupVsRaw(t, conn)
		r2, u2 := rollupVsRaw(t, other)
		if r1 == u1 && r2 == u2 {
			break
		}
	}
	checkReportsEqualRaw(t, conn)
	checkReportsEqualRaw(t, other)
}

// checkClusterHealth asserts what Health reports on the cluster: the
// orders through the nodes' local tables, every check ok, or only the
// nodes check warning about downAddr.
func checkClusterHealth(t *testing.T, conn *analytics.Conn, orders uint64, downAddr string) {
	t.Helper()
	h, err := conn.Health(context.Background())
	if err != nil {
		t.Fatalf("health: %v", err)
	}
	if h.Cluster == nil || len(h.Cluster.Nodes) != 4 {
		t.Fatalf("health: got cluster %+v, want 4 nodes", h.Cluster)
	}
	var got uint64
	for _, f := range h.Freshness {
		if f.Table == "orders" {
			got = f.Rows
		}
	}
	if got != orders {
		t.Errorf("health freshness: got %d orders through the local tables, want %d", got, orders)
	}
	for _, c := range h.Checks(analytics.HealthLimits{MinDiskFree: 0.0001}) {
		switch {
		case c.Name == "clickhouse nodes" && downAddr != "":
			if c.Status != analytics.CheckWarn || !strings.Contains(c.Message, downAddr) {
				t.Errorf("check %s with %s down: got %s %q, want a warning naming it", c.Name, downAddr, c.Status, c.Message)
			}
		case c.Name == "clickhouse disk":
		case c.Status != analytics.CheckOK:
			t.Errorf("check %s: got %s %q, want ok", c.Name, c.Status, c.Message)
		}
	}
}

// nodesEngine reads the engine of database.table on node n.
func nodesEngine(ctx context.Context, n *testenv.ClusterNode, database, table string, engine *string) error {
	conn, err := analytics.Open(ctx, analytics.Config{Addr: n.Addr(), Database: database})
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.DB().QueryRow(ctx, "SELECT engine FROM system.tables WHERE database = ? AND name = ?", database, table).Scan(engine)
}
