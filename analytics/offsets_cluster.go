package analytics

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// The write-ahead marks on a cluster
//
// sink_offsets is, like every table, a Distributed table over a replicated
// sink_offsets_local, sharded by cityHash64(kafka_topic, kafka_partition)
// like the raw tables: the marks of a Kafka partition live on the shard
// holding its rows. WriteMarks writes through the Distributed table with
// ClusterSettings (one part on the partition's shard, acknowledged before
// the INSERT of the rows starts); Positions reads each shard's marks from
// one replica that holds every part of sink_offsets committed on it
// (inSync), and probes an open intent on that same replica once it holds
// every part of the intent's raw table too. So the watermark of a partition is computed from the newest
// mark committed anywhere on its shard and, for an intent, from whether
// its INSERT committed anywhere on the shard: exactly what the single
// server reads, whatever replica acknowledged which part.
//
// The marks of a cluster's history written before surge wrote marks there
// are backfilled by migration 008, per shard from an in-sync replica. Until
// it is applied, the marks would be missing and read as "nothing held": so
// WriteMarks writes none and Positions scans the raw tables.

// marksMigration is the version of the migration that backfills the marks
// on a cluster.
const marksMigration = 8

// marksReady reports whether the marks can be read and are worth writing:
// always on one server (migration 005 backfilled them), on a cluster once
// migration 008 is recorded. A cluster's answer is cached once true.
func (c *Conn) marksReady(ctx context.Context) (bool, error) {
	cluster, err := c.Cluster(ctx)
	if err != nil {
		return false, err
	}
	if cluster == "" || c.clMarks.Load() {
		return true, nil
	}
	var n uint64
	if err := c.db.QueryRow(ctx, "SELECT count() FROM schema_migrations WHERE version = ?", uint32(marksMigration)).Scan(&n); err != nil {
		return false, fmt.Errorf("look for migration %03d in schema_migrations: %w", marksMigration, err)
	}
	if n == 0 {
		return false, nil
	}
	c.clMarks.Store(true)
	return true, nil
}

// clusterPositions is Positions on a cluster: per shard, the marks and
// the probes of open intents are read from one in-sync replica (see
// EachShard), all shards at once. Should a key have marks on two shards (the cluster's shards
// changed), the one with the highest Seq counts, as on one server.
func (c *Conn) clusterPositions(ctx context.Context, cluster, topic string) (map[Table]map[int32]Position, error) {
	ready, err := c.marksReady(ctx)
	if err != nil {
		return nil, fmt.Errorf("read sink marks of %s: %w", topic, err)
	}
	if !ready {
		wm, err := c.clusterWatermarks(ctx, cluster, topic)
		if err != nil {
			return nil, err
		}
		out := map[Table]map[int32]Position{}
		for t, parts := range wm {
			for p, off := range parts {
				setPosition(out, t, p, Position{Offset: off})
			}
		}
		return out, nil
	}
	out := map[Table]map[int32]Position{}
	// The marks are read from a replica in sync for sink_offsets; the raw
	// tables of open intents are checked on it before they are probed
	// (most reads have none to probe, and each table checked costs
	// ZooKeeper reads).
	var mu sync.Mutex
	err = c.eachShardAtOnce(ctx, cluster, []Table{TableSinkOffsets}, func(db driver.Conn, suffix string) error {
		// A replica that fails half way leaves out untouched: the next
		// replica of the shard is read from scratch.
		shard := map[Table]map[int32]Position{}
		ready := func(tables []Table) error {
			reason, err := c.inSync(ctx, db, tables)
			if err == nil && reason != "" {
				err = errors.New(reason)
			}
			return err
		}
		if err := readPositions(ctx, db, suffix, topic, shard, ready); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		mergePositions(out, shard)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read sink marks of %s: %w", topic, err)
	}
	return out, nil
}
