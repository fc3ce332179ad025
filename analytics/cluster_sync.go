package analytics

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"golang.org/x/sync/errgroup"
)

// clusterWatermarks reads the watermarks of topic shard by shard (see
// EachShard). All rows of one Kafka partition live on one shard (the raw
// tables are sharded by topic and partition).
//
// Why a lagging replica must not be read: with insert_quorum=0 a part is
// acknowledged by one replica and copied to the others afterwards. A
// watermark read from a replica that has not fetched it yet would be
// short, and the sink would write those rows again: a duplicate once the
// fetch completes.
func (c *Conn) clusterWatermarks(ctx context.Context, cluster, topic string) (map[Table]map[int32]int64, error) {
	out := map[Table]map[int32]int64{}
	err := c.eachShard(ctx, cluster, func(db driver.Conn, suffix string) error {
		return readWatermarks(ctx, db, suffix, topic, out)
	})
	if err != nil {
		return nil, fmt.Errorf("read watermarks of %s: %w", topic, err)
	}
	return out, nil
}

// EachShard calls fn once per shard with a connection to a replica of the
// shard that holds every part committed on it (see inSync) and the suffix
// that names the tables of that one replica ("_local"); fn then reads
// <table><suffix>. On one server it calls fn once with the connection and
// "". A shard none of whose replicas is in sync (or answers) is an error
// naming why, and the caller retries: reads that must see every committed
// row (the sink's watermarks and dedup claims) use it instead of the
// Distributed tables, which may pick a lagging replica.
func (c *Conn) EachShard(ctx context.Context, fn func(db driver.Conn, suffix string) error) error {
	cluster, err := c.Cluster(ctx)
	if err != nil {
		return err
	}
	if cluster == "" {
		return fn(c.db, "")
	}
	return c.eachShard(ctx, cluster, fn)
}

func (c *Conn) eachShard(ctx context.Context, cluster string, fn func(db driver.Conn, suffix string) error) error {
	return c.eachShardOf(ctx, cluster, syncTables(), fn)
}

// syncTables are the tables EachShard checks: the raw tables and the
// write-ahead marks.
func syncTables() []Table { return append(Tables[:len(Tables):len(Tables)], TableSinkOffsets) }

// eachShardOf is eachShard with the in-sync check limited to tables: fn
// may then read only those tables (or check others itself, see inSync).
func (c *Conn) eachShardOf(ctx context.Context, cluster string, tables []Table, fn func(db driver.Conn, suffix string) error) error {
	shards, err := c.shards(ctx, cluster)
	if err != nil {
		return err
	}
	for _, replicas := range shards {
		if err := c.onShard(ctx, replicas, tables, fn); err != nil {
			return err
		}
	}
	return nil
}

// eachShardAtOnce is eachShardOf with the shards read at the same time: fn
// runs in one goroutine per shard, so it must be safe for that. It returns
// once every shard is done, with the first error.
func (c *Conn) eachShardAtOnce(ctx context.Context, cluster string, tables []Table, fn func(db driver.Conn, suffix string) error) error {
	shards, err := c.shards(ctx, cluster)
	if err != nil {
		return err
	}
	var g errgroup.Group
	for _, replicas := range shards {
		g.Go(func() error { return c.onShard(ctx, replicas, tables, fn) })
	}
	return g.Wait()
}

// shards lists the nodes of cluster grouped by shard.
func (c *Conn) shards(ctx context.Context, cluster string) ([][]ClusterNode, error) {
	nodes, err := c.ClusterNodes(ctx, cluster)
	if err != nil {
		return nil, err
	}
	var out [][]ClusterNode
	for i, n := range nodes {
		if i == 0 || n.Shard != nodes[i-1].Shard {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], n)
	}
	return out, nil
}

// onShard calls fn with the first of a shard's replicas that is in sync
// for tables and on which fn succeeds.
func (c *Conn) onShard(ctx context.Context, replicas []ClusterNode, tables []Table, fn func(db driver.Conn, suffix string) error) error {
	var why []string
	for _, n := range replicas {
		db, err := c.Node(n.Addr)
		if err == nil {
			var reason string
			if reason, err = c.inSync(ctx, db, tables); err == nil && reason != "" {
				err = errors.New(reason)
			}
		}
		if err == nil {
			err = fn(db, LocalSuffix)
		}
		if err == nil {
			return nil
		}
		why = append(why, n.Addr+": "+err.Error())
	}
	return fmt.Errorf("no replica of shard %d holds every committed part yet (%s)", replicas[0].Shard, strings.Join(why, "; "))
}

// inSync returns "" when the replicas of tables on db hold every
// part committed on their shard, or what they still lack. A replica is in
// sync when it has copied the whole replication log into its queue
// (log_pointer past log_max_index, which system.replicas reads from
// ZooKeeper at query time) and its queue fetches no part (inserts_in_queue
// 0). A part is committed in the same ZooKeeper transaction that adds its
// log entry, so a part committed before this check is in the log.
//
// It checks the given tables only (their _local tables): each table's
// replication state costs ZooKeeper reads, so a reader checks what it
// reads.
func (c *Conn) inSync(ctx context.Context, db driver.Conn, tables []Table) (string, error) {
	names := make([]string, 0, len(tables))
	for _, t := range tables {
		names = append(names, "'"+string(t)+LocalSuffix+"'")
	}
	rows, err := db.Query(ctx, `SELECT table, zookeeper_path, is_readonly, is_session_expired,
    log_pointer, log_max_index, inserts_in_queue
FROM system.replicas
WHERE database = ? AND table IN (`+strings.Join(names, ", ")+`)
ORDER BY table`, c.database)
	if err != nil {
		return "", fmt.Errorf("read replication state: %w", err)
	}
	type state struct {
		table, path       string
		readonly, expired uint8
		pointer, max      uint64
		inserts           uint32
	}
	var all []state
	for rows.Next() {
		var s state
		if err := rows.Scan(&s.table, &s.path, &s.readonly, &s.expired, &s.pointer, &s.max, &s.inserts); err != nil {
			rows.Close()
			return "", fmt.Errorf("read replication state: %w", err)
		}
		all = append(all, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("read replication state: %w", err)
	}
	if len(all) == 0 {
		// Distributed tables over plain MergeTree (one replica per shard):
		// nothing to lag behind.
		var plain uint64
		err := db.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name IN ("+
			strings.Join(names, ", ")+") AND engine NOT LIKE 'Replicated%'", c.database).Scan(&plain)
		if err != nil {
			return "", fmt.Errorf("read the engines of the local tables: %w", err)
		}
		if int(plain) == len(names) {
			return "", nil
		}
	}
	if len(all) != len(names) {
		return fmt.Sprintf("%d of %d tables are replicated here (run surge migrate --cluster)", len(all), len(names)), nil
	}
	for _, s := range all {
		switch {
		case s.readonly != 0 || s.expired != 0:
			return s.table + " is read-only (no ZooKeeper session)", nil
		case s.inserts > 0:
			return fmt.Sprintf("%s has %d parts to fetch", s.table, s.inserts), nil
		case s.pointer > s.max:
		default:
			// log_pointer 0 and log_max_index 0: an empty log, or one
			// entry not yet copied. Ask ZooKeeper.
			var n uint64
			if err := db.QueryRow(ctx, "SELECT count() FROM system.zookeeper WHERE path = ?", s.path+"/log").Scan(&n); err != nil {
				return "", fmt.Errorf("read the replication log of %s: %w", s.table, err)
			}
			if n > 0 {
				return fmt.Sprintf("%s has not copied the replication log (pointer %d, max index %d)", s.table, s.pointer, s.max), nil
			}
		}
	}
	return "", nil
}

// RunningInserts returns the ids of the queries now running whose query id
// starts with prefix. On a cluster it asks every node, and a sub-query
// that a Distributed INSERT sent to another node counts under the id of
// the INSERT that sent it (its initial_query_id). A node that does not
// answer may still run an INSERT; that is ruled out only when ZooKeeper
// says it has no live session, as then it can commit no part: otherwise
// RunningInserts returns an error and the caller asks again.
func (c *Conn) RunningInserts(ctx context.Context, prefix string) (map[string]bool, error) {
	cluster, err := c.Cluster(ctx)
	if err != nil {
		return nil, err
	}
	ids := make(map[string]bool)
	if cluster == "" {
		return ids, runningOn(ctx, c.db, prefix, ids)
	}
	nodes, err := c.ClusterNodes(ctx, cluster)
	if err != nil {
		return nil, err
	}
	var down []string
	var live uint64
	var witness driver.Conn
	for _, n := range nodes {
		db, err := c.Node(n.Addr)
		if err == nil {
			err = runningOn(ctx, db, prefix, ids)
		}
		if err != nil {
			down = append(down, n.Addr)
			continue
		}
		var expired uint8
		if err := db.QueryRow(ctx, `SELECT is_session_expired FROM system.replicas
WHERE database = ? AND table = 'schema_migrations'`, c.database).Scan(&expired); err == nil && expired == 0 {
			live++
			witness = db
		}
	}
	if len(down) == 0 {
		return ids, nil
	}
	if witness == nil {
		return nil, fmt.Errorf("list running inserts: nodes %s do not answer and no node has a ZooKeeper session to vouch they are down", strings.Join(down, ", "))
	}
	var active uint64
	if err := witness.QueryRow(ctx, `SELECT toUInt64(active_replicas) FROM system.replicas
WHERE database = ? AND table = 'schema_migrations'`, c.database).Scan(&active); err != nil {
		return nil, fmt.Errorf("list running inserts: ask ZooKeeper which nodes are live: %w", err)
	}
	if active > live {
		return nil, fmt.Errorf("list running inserts: nodes %s do not answer but %d of them still hold a ZooKeeper session; waiting for it to expire",
			strings.Join(down, ", "), active-live)
	}
	return ids, nil
}

// runningOn adds to ids the queries running on db whose query id or
// initial query id starts with prefix, by their initial query id.
func runningOn(ctx context.Context, db driver.Conn, prefix string, ids map[string]bool) error {
	rows, err := db.Query(ctx, `SELECT if(is_initial_query, query_id, initial_query_id) FROM system.processes
WHERE substring(query_id, 1, ?) = ? OR substring(initial_query_id, 1, ?) = ?`,
		uint64(len(prefix)), prefix, uint64(len(prefix)), prefix)
	if err != nil {
		return fmt.Errorf("list running inserts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("list running inserts: %w", err)
		}
		ids[id] = true
	}
	return rows.Err()
}
