package analytics

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// ClusterHealth is what Health adds on a cluster: every node's state, read
// through its local tables (the Distributed tables have no parts), and
// whether surge's settings and ZooKeeper are in order.
type ClusterHealth struct {
	Name  string       `json:"name"`
	Nodes []NodeHealth `json:"nodes"`
	// ZooKeeper is "" when the connected node reads ZooKeeper, else the error.
	ZooKeeper string `json:"zookeeper_error,omitempty"`
	// Settings is "" when INSERTs get ClusterSettings, else why not.
	Settings string `json:"settings_error,omitempty"`
}

// NodeHealth is one node of the cluster.
type NodeHealth struct {
	ClusterNode
	// Error is why the node did not answer; the other fields are then zero.
	Error string `json:"error,omitempty"`
	// RawRows counts the rows of the raw tables on this node.
	RawRows      uint64    `json:"raw_rows"`
	LatestIngest time.Time `json:"latest_ingest"`
	// Replication, over the node's replicated tables of the database:
	// the longest queue, parts still to fetch, the worst delay behind the
	// other replicas, and whether any table is read-only (no ZooKeeper
	// session).
	Queue        uint32 `json:"replication_queue"`
	Fetches      uint32 `json:"parts_to_fetch"`
	DelaySeconds uint64 `json:"replication_delay_seconds"`
	ReadOnly     bool   `json:"read_only"`
	freshness    []TableFreshness
	parts        []PartitionParts
}

// clusterHealth fills h.Cluster and replaces h.Parts and h.Freshness with
// what the nodes' local tables hold, when the database is on a cluster.
func (c *Conn) clusterHealth(ctx context.Context, h *Health) error {
	name, _, err := c.detectCluster(ctx)
	if err != nil || name == "" {
		return err
	}
	ch := &ClusterHealth{Name: name}
	h.Cluster = ch
	if err := c.checkClusterSettings(ctx); err != nil {
		ch.Settings = err.Error()
	}
	var n uint64
	if err := c.db.QueryRow(ctx, "SELECT count() FROM system.zookeeper WHERE path = '/'").Scan(&n); err != nil {
		ch.ZooKeeper = err.Error()
	}
	nodes, err := c.ClusterNodes(ctx, name)
	if err != nil {
		return err
	}
	fresh := map[string]*TableFreshness{}
	shardRows := map[[2]uint32]uint64{} // (shard, table index) -> most rows on a replica
	h.Parts = h.Parts[:0]
	for _, cn := range nodes {
		nh := NodeHealth{ClusterNode: cn}
		if err := c.nodeHealth(ctx, &nh); err != nil {
			nh.Error = err.Error()
		}
		for _, f := range nh.freshness {
			t := strings.TrimSuffix(f.Table, LocalSuffix)
			agg := fresh[t]
			if agg == nil {
				agg = &TableFreshness{Table: t}
				fresh[t] = agg
			}
			if f.LatestIngest.After(agg.LatestIngest) {
				agg.LatestIngest = f.LatestIngest
			}
			key := [2]uint32{cn.Shard, tableIndex(t)}
			shardRows[key] = max(shardRows[key], f.Rows)
		}
		for _, p := range nh.parts {
			p.Table += "@" + cn.Addr
			h.Parts = append(h.Parts, p)
		}
		ch.Nodes = append(ch.Nodes, nh)
	}
	for key, rows := range shardRows {
		for _, t := range Tables {
			if tableIndex(string(t)) == key[1] {
				if f := fresh[string(t)]; f != nil {
					f.Rows += rows
				}
			}
		}
	}
	h.Freshness = h.Freshness[:0]
	for _, t := range Tables {
		if f := fresh[string(t)]; f != nil && f.Rows > 0 {
			h.Freshness = append(h.Freshness, *f)
		}
	}
	sort.Slice(h.Parts, func(i, j int) bool { return h.Parts[i].Parts > h.Parts[j].Parts })
	if len(h.Parts) > 10 {
		h.Parts = h.Parts[:10]
	}
	return nil
}

func tableIndex(t string) uint32 {
	for i, x := range Tables {
		if string(x) == t {
			return uint32(i)
		}
	}
	return uint32(len(Tables))
}

// nodeHealth reads one node's raw-table parts and replication state.
func (c *Conn) nodeHealth(ctx context.Context, nh *NodeHealth) error {
	db, err := c.Node(nh.Addr)
	if err != nil {
		return err
	}
	names := make([]string, len(Tables))
	for i, t := range Tables {
		names[i] = "'" + string(t) + LocalSuffix + "'"
	}
	rows, err := db.Query(ctx, `SELECT table, sum(rows), max(max_time) FROM system.parts
WHERE active AND database = ? AND table IN (`+strings.Join(names, ", ")+`)
GROUP BY table ORDER BY table`, c.database)
	if err != nil {
		return fmt.Errorf("read parts: %w", err)
	}
	for rows.Next() {
		var f TableFreshness
		if err := rows.Scan(&f.Table, &f.Rows, &f.LatestIngest); err != nil {
			rows.Close()
			return fmt.Errorf("read parts: %w", err)
		}
		f.LatestIngest = f.LatestIngest.UTC()
		nh.RawRows += f.Rows
		if f.LatestIngest.After(nh.LatestIngest) {
			nh.LatestIngest = f.LatestIngest
		}
		nh.freshness = append(nh.freshness, f)
	}
	rows.Close()
	rows, err = db.Query(ctx, `SELECT table, partition, count() AS parts FROM system.parts
WHERE active AND database = ? GROUP BY table, partition ORDER BY parts DESC LIMIT 3`, c.database)
	if err != nil {
		return fmt.Errorf("count parts: %w", err)
	}
	for rows.Next() {
		var p PartitionParts
		if err := rows.Scan(&p.Table, &p.Partition, &p.Parts); err != nil {
			rows.Close()
			return fmt.Errorf("count parts: %w", err)
		}
		nh.parts = append(nh.parts, p)
	}
	rows.Close()
	var readOnly uint8
	err = db.QueryRow(ctx, `SELECT max(queue_size), max(inserts_in_queue), max(absolute_delay), max(is_readonly OR is_session_expired)
FROM system.replicas WHERE database = ?`, c.database).Scan(&nh.Queue, &nh.Fetches, &nh.DelaySeconds, &readOnly)
	if err != nil {
		return fmt.Errorf("read replication state: %w", err)
	}
	nh.ReadOnly = readOnly != 0
	return nil
}

// checks judges the cluster: nodes, replication, ZooKeeper, shard
// balance and settings.
func (ch *ClusterHealth) checks() []HealthCheck {
	nodes := HealthCheck{Name: "clickhouse nodes", Status: CheckOK}
	repl := HealthCheck{Name: "clickhouse replication", Status: CheckOK}
	var down, lag, msgs []string
	upPerShard := map[uint32]int{}
	shards := map[uint32]uint64{}
	for _, n := range ch.Nodes {
		id := fmt.Sprintf("shard %d replica %d (%s)", n.Shard, n.Replica, n.Addr)
		if n.Error != "" {
			down = append(down, id+": "+n.Error)
			if _, ok := upPerShard[n.Shard]; !ok {
				upPerShard[n.Shard] = 0
			}
			continue
		}
		upPerShard[n.Shard]++
		shards[n.Shard] = max(shards[n.Shard], n.RawRows)
		msgs = append(msgs, fmt.Sprintf("%d/%d: %d rows, queue %d, delay %ds", n.Shard, n.Replica, n.RawRows, n.Queue, n.DelaySeconds))
		switch {
		case n.ReadOnly:
			lag = append(lag, id+" is read-only (no ZooKeeper session)")
			repl.Status = CheckFail
		case n.DelaySeconds > 60 || n.Fetches > 100:
			lag = append(lag, fmt.Sprintf("%s is %ds behind with %d parts to fetch", id, n.DelaySeconds, n.Fetches))
			if repl.Status == CheckOK {
				repl.Status = CheckWarn
			}
		}
	}
	nodes.Message = fmt.Sprintf("cluster %s: %d nodes answer of %d", ch.Name, len(ch.Nodes)-len(down), len(ch.Nodes))
	if len(down) > 0 {
		nodes.Status = CheckWarn
		nodes.Message += "; down: " + strings.Join(down, "; ")
		nodes.Fix = "bring the node back: writes go on through the other replicas of its shard"
		for s, up := range upPerShard {
			if up == 0 {
				nodes.Status = CheckFail
				nodes.Fix = fmt.Sprintf("no replica of shard %d answers: writes to it fail until one is back", s)
			}
		}
	}
	repl.Message = strings.Join(msgs, "; ")
	if len(lag) > 0 {
		repl.Message = strings.Join(lag, "; ")
		repl.Fix = "check the lagging replica's log and its ZooKeeper connection; reads through Distributed tables may pick it"
	}
	zk := HealthCheck{Name: "clickhouse zookeeper", Status: CheckOK, Message: "reachable from the connected node"}
	if ch.ZooKeeper != "" {
		zk.Status, zk.Message = CheckFail, ch.ZooKeeper
		zk.Fix = "replicated tables are read-only without ZooKeeper: check the <zookeeper> section and the ensemble"
	}
	bal := HealthCheck{Name: "clickhouse shard balance", Status: CheckOK}
	var lo, hi uint64
	first := true
	var per []string
	keys := make([]uint32, 0, len(shards))
	for s := range shards {
		keys = append(keys, s)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, s := range keys {
		r := shards[s]
		per = append(per, fmt.Sprintf("shard %d: %d", s, r))
		if first || r < lo {
			lo = r
		}
		if first || r > hi {
			hi = r
		}
		first = false
	}
	bal.Message = "raw rows " + strings.Join(per, ", ")
	if len(keys) > 1 && hi >= 10000 && hi > 2*lo {
		bal.Status = CheckWarn
		bal.Fix = "shards are uneven: rows are sharded by Kafka topic and partition, so use many more partitions than shards"
	}
	set := HealthCheck{Name: "clickhouse cluster settings", Status: CheckOK,
		Message: "INSERTs get " + wantSettings() + " (set per query)"}
	if ch.Settings != "" {
		set.Status, set.Message = CheckFail, ch.Settings
		set.Fix = "set " + wantSettings() + " in the profile of surge's ClickHouse user"
	}
	return []HealthCheck{nodes, repl, zk, bal, set}
}
