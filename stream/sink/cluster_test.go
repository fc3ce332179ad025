package sink_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
)

// TestSinkClusterExactlyOnce runs the pipeline on a real ClickHouse cluster
// (ZooKeeper, 2 shards × 2 replicas, nothing set in the users' profile):
// `surge migrate --cluster`, then two `surge sink` processes, each
// connected to a different node, while records keep arriving and the test
// kills -9 a sink, kills -9 a replica the sinks do not talk to (and brings
// it back), kills -9 the node one sink talks to (and brings it back) and
// SIGSTOPs a sink past its session timeout. In the end every table holds
// every record once, per shard and on every replica.
func TestSinkClusterExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test is long; runs without -short (and always in CI)")
	}
	cl := testenv.StartCluster(t, 2, 2)
	// surge's embedded broker: it keeps the group recoverable when a sink is
	// killed mid-rebalance (bare kfake stalled this test once that way).
	brokers := testenv.Broker(t, 8, topics.All()...)
	const db = "surge"
	logf, err := os.CreateTemp(t.TempDir(), "sink-*.log")
	if err != nil {
		t.Fatal(err)
	}
	// Sink B, the one paused, logs apart: the test checks that the pause
	// removed it from the group.
	logB, err := os.CreateTemp(t.TempDir(), "sink-b-*.log")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(logf.Name())
			t.Logf("surge logs:\n%s", log)
			log, _ = os.ReadFile(logB.Name())
			t.Logf("sink B logs:\n%s", log)
		}
	})
	migrate := testenv.StartSurge(t, logf, "migrate", "--clickhouse", cl.Node(1, 1).Addr(),
		"--clickhouse-database", db, "--cluster", testenv.ClusterName)
	if err := migrate.Wait(); err != nil {
		log, _ := os.ReadFile(logf.Name())
		t.Fatalf("surge migrate --cluster: %v\n%s", err, log)
	}
	// The test reads through a node no sink talks to and that stays up.
	ch := cl.Node(2, 1).Open(t, db)

	rng := rand.New(rand.NewPCG(31, 32))
	recs, w := genRecords(rng, 30_000, time.Now().Add(-time.Hour))
	produce(t, brokers, recs)
	var prodWG sync.WaitGroup
	var prodMu sync.Mutex
	prodWG.Add(1)
	go func() {
		defer prodWG.Done()
		r := rand.New(rand.NewPCG(33, 34))
		for range 24 {
			more, w2 := genRecords(r, 1000, time.Now())
			produce(t, brokers, more)
			prodMu.Lock()
			w.add(w2)
			prodMu.Unlock()
			time.Sleep(400 * time.Millisecond)
		}
	}()

	nodeA, nodeB := cl.Node(1, 1), cl.Node(1, 2)
	sinkA := startSinkProcess(t, brokers, ch, nodeA.Addr(), logf)
	sinkB := startSinkProcess(t, brokers, ch, nodeB.Addr(), logB)
	defer func() {
		for _, p := range []*exec.Cmd{sinkA, sinkB} {
			_ = p.Process.Signal(syscall.SIGCONT)
			_ = p.Process.Signal(syscall.SIGTERM)
			_ = p.Wait()
		}
	}()
	pause := func() { time.Sleep(time.Duration(800+rng.IntN(800)) * time.Millisecond) }
	ctx := context.Background()

	pause()
	t.Log("kill -9 sink A")
	_ = sinkA.Process.Kill()
	_ = sinkA.Wait()
	sinkA = startSinkProcess(t, brokers, ch, nodeA.Addr(), logf)

	pause()
	t.Log("kill -9 replica 2 of shard 2 (no sink talks to it)")
	replica := cl.Node(2, 2)
	if err := replica.Kill(); err != nil {
		t.Fatal(err)
	}
	pause()
	pause()
	if err := replica.Restart(ctx); err != nil {
		t.Fatal(err)
	}

	pause()
	t.Log("kill -9 node A, which sink A talks to")
	if err := nodeA.Kill(); err != nil {
		t.Fatal(err)
	}
	pause()
	if err := nodeA.Restart(ctx); err != nil {
		t.Fatal(err)
	}

	pause()
	// Paused while the group is stable (not in the middle of a rebalance,
	// where the broker may keep it), for 3 times its session timeout of 2 s
	// (startSinkProcess): the group removes B and gives its partitions to
	// A, which writes them while B holds its last batch; on resume B must
	// drop it.
	waitGroupStable(t, brokers, time.Minute)
	fi, err := logB.Stat()
	if err != nil {
		t.Fatal(err)
	}
	t.Log("SIGSTOP sink B for 6 s, then SIGCONT")
	_ = sinkB.Process.Signal(syscall.SIGSTOP)
	time.Sleep(6 * time.Second)
	_ = sinkB.Process.Signal(syscall.SIGCONT)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		log, _ := os.ReadFile(logB.Name())
		since := string(log[min(fi.Size(), int64(len(log))):])
		// Removed: kgo reports its partitions lost, or it joins again as a
		// new member straight away.
		if strings.Contains(since, "partitions lost") || strings.Contains(since, "rejoined the group as a new member") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sink B was not removed from the group by a 6 s pause (session timeout 2 s)")
		}
	}
	t.Log("sink B was removed from the group by the pause")

	pause()
	t.Log("kill -9 sink B")
	_ = sinkB.Process.Kill()
	_ = sinkB.Wait()
	sinkB = startSinkProcess(t, brokers, ch, nodeB.Addr(), logB)

	prodWG.Wait()
	waitFor(t, ch, w, 2*time.Minute)
	cl.WaitActive(t, db, time.Minute)
	time.Sleep(time.Second) // let any extra (duplicate) write show up before checking
	// Replicas catch up asynchronously (insert_quorum=0): compare them
	// first, which waits until they agree, then read through the
	// Distributed tables, which may pick either replica.
	checkReplicas(t, cl, db, w)
	checkExact(t, ch, w)
	checkClusterMarks(t, ch)

	// The reports read the rollups; a killed node may have left a view's
	// part behind its raw part. surge migrate --repair rebuilds the rest.
	time.Sleep(1100 * time.Millisecond)
	repair := testenv.StartSurge(t, logf, "migrate", "--repair", "--settle", "1ms", "--clickhouse", cl.Node(2, 2).Addr(),
		"--clickhouse-database", db)
	if err := repair.Wait(); err != nil {
		t.Fatalf("surge migrate --repair: %v", err)
	}
	// The repair's rows reach the other replica asynchronously, and reads
	// through the Distributed tables may pick either: poll.
	for _, q := range [][2]string{
		{"SELECT count() FROM orders", "SELECT toUInt64(countMerge(orders)) FROM orders_per_minute"},
		{"SELECT count() FROM user_events", "SELECT toUInt64(sum(events)) FROM events_per_minute"},
		{"SELECT count() FROM coupons", "SELECT toUInt64(countMerge(issued)) FROM coupons_per_minute"},
		{"SELECT uniqExact(campaign_id, currency, user_id, toStartOfMinute(created_at)) FROM orders",
			"SELECT count() FROM (SELECT campaign_id, currency, user_id, m FROM campaign_buyers ARRAY JOIN ordersMap.minute AS m GROUP BY campaign_id, currency, user_id, m)"},
	} {
		var raw, rolled uint64
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			if err := ch.DB().QueryRow(ctx, q[0]).Scan(&raw); err != nil {
				t.Fatal(err)
			}
			if err := ch.DB().QueryRow(ctx, q[1]).Scan(&rolled); err != nil {
				t.Fatal(err)
			}
			if raw == rolled || time.Now().After(deadline) {
				break
			}
		}
		if raw != rolled {
			t.Errorf("%s = %d but %s = %d after the repair", q[0], raw, q[1], rolled)
		}
	}
	t.Logf("%d records through 2 sinks on different nodes of a 2×2 cluster, with kills of sinks, a replica and a sink's node", w.total)
}

// checkReplicas asserts that on every shard both replicas hold the same
// rows of every raw table, that each Kafka offset is stored once per
// replica, and that the shards add up to w.
func checkReplicas(t *testing.T, cl *testenv.Cluster, db string, w *want) {
	t.Helper()
	ctx := context.Background()
	tables := []analytics.Table{analytics.TableOrders, analytics.TableOrderStatus, analytics.TableUserEvents,
		analytics.TableCoupons, analytics.TableSinkRejects}
	conns := make(map[[2]int]*analytics.Conn)
	for _, n := range cl.Nodes {
		conns[[2]int{n.Shard, n.Replica}] = n.Open(t, db)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		var problems []string
		sum := make(map[analytics.Table]uint64)
		for _, n := range cl.Nodes {
			conn := conns[[2]int{n.Shard, n.Replica}]
			for _, tbl := range tables {
				var rows, offsets uint64
				err := conn.DB().QueryRow(ctx, fmt.Sprintf("SELECT count(), uniqExact(kafka_topic, kafka_partition, kafka_offset) FROM %s%s",
					tbl, analytics.LocalSuffix)).Scan(&rows, &offsets)
				if err != nil {
					t.Fatalf("count %s on shard %d replica %d: %v", tbl, n.Shard, n.Replica, err)
				}
				if rows != offsets {
					problems = append(problems, fmt.Sprintf("shard %d replica %d %s: %d rows, %d distinct offsets", n.Shard, n.Replica, tbl, rows, offsets))
				}
				if n.Replica == 1 {
					sum[tbl] += rows
					other := conns[[2]int{n.Shard, 2}]
					var r2 uint64
					if err := other.DB().QueryRow(ctx, "SELECT count() FROM "+string(tbl)+analytics.LocalSuffix).Scan(&r2); err != nil {
						t.Fatal(err)
					}
					if r2 != rows {
						problems = append(problems, fmt.Sprintf("shard %d %s: replica 1 has %d rows, replica 2 %d", n.Shard, tbl, rows, r2))
					}
				}
			}
		}
		for _, tbl := range tables {
			want := w.rows[tbl]
			if tbl == analytics.TableSinkRejects {
				want = w.rejects
			}
			if sum[tbl] != want {
				problems = append(problems, fmt.Sprintf("%s over both shards: %d rows, want %d", tbl, sum[tbl], want))
			}
		}
		if len(problems) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, p := range problems {
				t.Error(p)
			}
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// checkClusterMarks asserts that the sinks wrote write-ahead marks on the
// cluster and that what they say (read per shard from an in-sync replica,
// open intents probed there) is what a full scan of every shard finds.
func checkClusterMarks(t *testing.T, ch *analytics.Conn) {
	t.Helper()
	checkPositions(t, ch)
	var marks uint64
	if err := ch.DB().QueryRow(context.Background(), "SELECT count() FROM sink_offsets WHERE seq > 0").Scan(&marks); err != nil {
		t.Fatal(err)
	}
	if marks == 0 {
		t.Error("sink_offsets holds no mark written by a sink, want the sinks' marks")
	}
}

// waitGroupStable waits until the sinks' group is stable (no rebalance in
// progress) with two members.
func waitGroupStable(t *testing.T, brokers []string, d time.Duration) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		dg, err := adm.DescribeGroups(ctx, "surge-sink")
		cancel()
		g := dg["surge-sink"]
		if err == nil && g.State == "Stable" && len(g.Members) == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sink group not stable with 2 members within %s: state %q, %d members (err %v)", d, g.State, len(g.Members), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
