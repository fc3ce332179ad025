package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	chgo "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
)

// runRecoveryCluster is runRecovery on a 2 shards × 2 replicas cluster:
// it fills orders with growing history, each shard's share written to its
// first replica's local table (replication copies it to the second), and
// at each size times the per-shard full scan (Watermarks: max(kafka_offset)
// over every raw table of an in-sync replica of each shard) against the
// write-ahead marks (Positions: sink_offsets of an in-sync replica of each
// shard, and a pruned probe there per unsettled intent).
func runRecoveryCluster(ctx context.Context, e *env) (*section, error) {
	sec := &section{Name: "recovery-cluster"}
	dir, cleanup, err := tempDir("recovery-cluster")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	cl, err := testenv.LaunchCluster(ctx, filepath.Join(dir, "cluster"), 2, 2)
	if err != nil {
		return nil, fmt.Errorf("start the ClickHouse cluster: %w", err)
	}
	defer cl.Stop()
	conn, err := analytics.Open(ctx, analytics.Config{Addr: cl.Node(1, 1).Addr(), Database: "surge"})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if _, err := conn.Migrate(ctx, analytics.WithCluster(testenv.ClusterName)); err != nil {
		return nil, err
	}

	parts := int64(e.cfg.partitions)
	now := time.Now().UTC().Truncate(time.Second)
	start := now.Add(-30 * 24 * time.Hour)
	span := int64(30*24*time.Hour/time.Second) - 60
	sizes := e.cfg.recoveryClusterRows
	maxRows := sizes[len(sizes)-1]
	state := map[int32]analytics.Position{}
	filled := 0
	var steps []recoveryStep
	for _, size := range sizes {
		t0 := time.Now()
		for s := 1; s <= 2; s++ {
			node, err := conn.Node(cl.Node(s, 1).Addr())
			if err != nil {
				return nil, err
			}
			for from := filled; from < size; from += recoveryChunk {
				n := min(recoveryChunk, size-from)
				// As in runRecovery, keeping the rows of the partitions
				// the Distributed table sends to shard s (same key).
				q := fmt.Sprintf(`INSERT INTO orders_local
    (campaign_id, created_at, kafka_topic, kafka_partition, kafka_offset, ingested_at)
SELECT 'black-friday', toDateTime(%d + intDiv((number %% %d) * %d, %d)) AS t,
    'orders' AS topic, toInt32(number %% %d) AS p, toInt64(intDiv(number, %d)), t
FROM numbers(%d, %d) WHERE cityHash64(topic, p) %% 2 = %d`, start.Unix(), maxRows, span, maxRows, parts, parts, from, n, s-1)
				fillCtx := chgo.Context(ctx, chgo.WithSettings(chgo.Settings{
					"min_insert_block_size_rows": recoveryChunk, "min_insert_block_size_bytes": 4 << 30}))
				if err := node.Exec(fillCtx, q); err != nil {
					return nil, fmt.Errorf("fill history of shard %d to %s rows: %w", s, fmtCount(int64(size)), err)
				}
			}
		}
		filled = size
		// Every row is there.
		if err := clusterSettled(ctx, cl, conn, false); err != nil {
			return nil, err
		}
		var held uint64
		for s := 1; s <= 2; s++ {
			node, err := conn.Node(cl.Node(s, 1).Addr())
			if err != nil {
				return nil, err
			}
			var n uint64
			if err := node.QueryRow(ctx, "SELECT count() FROM orders_local WHERE kafka_topic = 'orders'").Scan(&n); err != nil {
				return nil, err
			}
			held += n
		}
		// The sink's batches written at earlier sizes: 100 rows per
		// partition each.
		if extra := int64(held) - int64(size); extra < 0 || extra > int64(len(steps)+1)*100*parts*10 {
			return nil, fmt.Errorf("history of %s rows: the shards hold %s rows of orders", fmtCount(int64(size)), fmtCount(int64(held)))
		}
		st := recoveryStep{rows: size, fill: time.Since(t0)}
		e.printf("history %s rows on the cluster: filled in %.1fs", fmtCount(int64(size)), st.fill.Seconds())

		hiBase := int64(size)/parts + 1_000_000
		if err := writeMarked(ctx, conn, now, parts, hiBase, state, true); err != nil {
			return nil, err
		}
		if err := clusterSettled(ctx, cl, conn, size == sizes[0]); err != nil {
			return nil, err
		}
		want, err := conn.Watermarks(ctx, "orders")
		if err != nil {
			return nil, err
		}
		check := func() error {
			got, err := conn.Positions(ctx, "orders")
			if err != nil {
				return err
			}
			if flat := flatten(got); !reflect.DeepEqual(flat, want) {
				return fmt.Errorf("marks say %v, the full scan %v", flat, want)
			}
			return nil
		}
		runs := e.cfg.recoveryRuns
		if st.scan, err = timeQuery(ctx, runs, func() error { _, err := conn.Watermarks(ctx, "orders"); return err }); err != nil {
			return nil, err
		}
		if st.marks, err = timeQuery(ctx, runs, check); err != nil {
			return nil, err
		}
		if err := writeMarked(ctx, conn, now.Add(time.Second), parts, hiBase+1000, state, false); err != nil {
			return nil, err
		}
		if err := clusterSettled(ctx, cl, conn, false); err != nil {
			return nil, err
		}
		if st.unsettle, err = timeQuery(ctx, runs, check); err != nil {
			return nil, err
		}
		e.printf("  per-shard full scan %s, marks %s, marks with an unsettled intent per partition %s",
			fmtMs(st.scan), fmtMs(st.marks), fmtMs(st.unsettle))
		steps = append(steps, st)
	}

	var rows [][]string
	var summary []string
	allMet := true
	for _, st := range steps {
		tg, line := st.judge(" on the 2×2 cluster", "per-shard full scan")
		allMet = allMet && tg.Met
		fill := fmt.Sprintf("%.0fs", st.fill.Seconds())
		rows = append(rows, []string{fmtCount(int64(st.rows)), fill,
			fmtMs(st.scan), "**" + fmtMs(st.marks) + "**", "**" + fmtMs(st.unsettle) + "**", fmt.Sprintf("%.0f×", st.speedUp())})
		summary = append(summary, line)
		sec.Targets = append(sec.Targets, tg)
	}
	sec.Summary = fmt.Sprintf("recovery-cluster: %s%s", strings.Join(summary, ", "), verdict(allMet))
	var body strings.Builder
	body.WriteString(mdTable([]string{"history (orders rows)", "fill time", "per-shard full scan (before)",
		"marks, settled", "marks, unsettled intent on every partition", "speed-up (settled)"}, rows))
	fmt.Fprintf(&body, `
The recovery read of a sink on a ClickHouse cluster: ZooKeeper 3.8 and four
clickhouse-server 18.16 processes on this machine (2 shards × 2 replicas,
schema by Migrate(WithCluster)), %d partitions of orders, history
chronological over the 30 days before the run, each shard's rows (the
partitions the Distributed table sends it) filled with INSERT … SELECT FROM
numbers() into its first replica's orders_local and fetched by the second;
merges and fetches waited out before timing (at most 5 minutes for merges).
Every size is filled (the shards' orders rows are counted at each); unlike
the recovery scenario, no size is reached by attaching copies of parts: on
replicated tables ALTER TABLE … ATTACH PARTITION … FROM of the same parts
again came out short (repeated parts look deduplicated), and filling runs
at about 200k rows/s here. The sink's last batch (100 orders per partition) is written through
the Distributed tables between an intent and a done mark, as the sink
writes it; the unsettled case adds an intent per partition whose INSERT
never ran.
"Per-shard full scan" is analytics.Conn.Watermarks on the cluster (what the
sink read there before: max(kafka_offset) GROUP BY kafka_partition over every
raw table of an in-sync replica of each shard); "marks" is Positions (the
sink_offsets_local of an in-sync replica of each shard, all shards at once,
and on that replica one probe query of the raw table for all unsettled
intents). Both include choosing the in-sync replicas (system.replicas, which
reads ZooKeeper). Both answers are checked equal at every step; each figure
is the median of %d timed runs after an untimed one.
`, parts, e.cfg.recoveryRuns)
	sec.Body = body.String()
	return sec, nil
}

// clusterSettled waits until no node has a fetch or merge queued and every shard has
// an in-sync replica to read (a read right after a write may find none
// yet); with check it also verifies that no Kafka partition's rows are on
// both shards (the fill's key matches the Distributed table's).
func clusterSettled(ctx context.Context, cl *testenv.Cluster, conn *analytics.Conn, check bool) error {
	deadline := time.Now().Add(30 * time.Minute)
	mergesDeadline := time.Now().Add(5 * time.Minute)
	for {
		busy := uint64(0)
		for _, n := range cl.Nodes {
			db, err := conn.Node(n.Addr())
			if err != nil {
				return err
			}
			// Fetches and merges of replicated tables are entries of the
			// replication queue. Merges may keep being chosen while
			// large parts exist: past 5 minutes, time with them running.
			var fetches, merges uint64
			if err := db.QueryRow(ctx, "SELECT countIf(type != 'MERGE_PARTS'), countIf(type = 'MERGE_PARTS') FROM system.replication_queue").Scan(&fetches, &merges); err != nil {
				return err
			}
			busy += fetches
			if time.Now().Before(mergesDeadline) {
				busy += merges
			}
		}
		if busy == 0 {
			if _, err := conn.Positions(ctx, "orders"); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			return errors.New("cluster still merging or fetching after 30 minutes")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	if !check {
		return nil
	}
	seen := map[int32]int{}
	for s := 1; s <= 2; s++ {
		db, err := conn.Node(cl.Node(s, 1).Addr())
		if err != nil {
			return err
		}
		var ps []int32
		if err := db.QueryRow(ctx, "SELECT groupUniqArray(kafka_partition) FROM orders_local").Scan(&ps); err != nil {
			return err
		}
		for _, p := range ps {
			if other, ok := seen[p]; ok {
				return fmt.Errorf("rows of orders/%d on shards %d and %d: the fill does not shard like the Distributed table", p, other, s)
			}
			seen[p] = s
		}
	}
	return nil
}
