package analytics

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// A Conn to a node of a cluster created by Migrate(WithCluster) finds out
// by itself: the raw tables are Distributed tables over T_local. From then
// on (see ClusterSettings, Watermarks and RunningInserts):
//
//   - every INSERT carries the settings the sink's exactly-once argument
//     relies on, per query, whatever the user's profile says;
//   - Watermarks reads each shard from one of its replicas that holds
//     every part committed on the shard (see inSync), never through the
//     Distributed table, which may pick a lagging replica;
//   - RunningInserts looks at system.processes of every node, so that a
//     sink connected to any node sees INSERTs (and their per-shard
//     sub-INSERTs) sent by sinks connected to other nodes.

// ClusterSettings are the settings every INSERT carries on a cluster:
//
//   - insert_distributed_sync=1: the INSERT into a Distributed table
//     returns only after every shard wrote its block, as one part per
//     shard and table (so a batch's rows of one Kafka partition, which
//     live on one shard, land together or not at all);
//   - insert_quorum=0: one replica of each shard acknowledges the part
//     and replication copies it to the others. A quorum equal to the
//     replica count would stop every write while one replica is down;
//     exactness does not need it because Watermarks reads from a replica
//     that has every committed part.
//
// select_sequential_consistency is not needed for the same reason, and
// is left as the profile sets it.
var ClusterSettings = clickhouse.Settings{
	"insert_distributed_sync": 1,
	"insert_quorum":           0,
}

// nodeDialTimeout bounds how long a cluster query waits for a node that
// may be down.
const nodeDialTimeout = 2 * time.Second

var distributedRE = regexp.MustCompile(`^Distributed\(\s*'?(\w+)'?\s*,`)

// Cluster returns the name of the cluster the database is on ("" for one
// server): the cluster of the Distributed table orders, as created by
// Migrate(WithCluster). The answer is cached once the orders table exists.
func (c *Conn) Cluster(ctx context.Context) (string, error) {
	c.clMu.Lock()
	defer c.clMu.Unlock()
	if c.clKnown {
		return c.cluster, nil
	}
	var engine string
	err := c.db.QueryRow(ctx, "SELECT engine_full FROM system.tables WHERE database = ? AND name = ?",
		c.database, string(TableOrders)).Scan(&engine)
	if err != nil {
		if strings.Contains(err.Error(), "no rows") {
			return "", nil // not migrated yet: ask again later
		}
		return "", fmt.Errorf("read the engine of %s.%s: %w", c.database, TableOrders, err)
	}
	if m := distributedRE.FindStringSubmatch(engine); m != nil {
		c.cluster = m[1]
	}
	c.clKnown = true
	return c.cluster, nil
}

// insertContext adds the cluster settings to an INSERT's context.
func (c *Conn) insertContext(ctx context.Context) (context.Context, error) {
	cluster, err := c.Cluster(ctx)
	if err != nil || cluster == "" {
		return ctx, err
	}
	return clickhouse.Context(ctx, clickhouse.WithSettings(ClusterSettings)), nil
}

// ClusterNode is one node of the cluster as system.clusters lists it.
type ClusterNode struct {
	Shard   uint32 `json:"shard"`
	Replica uint32 `json:"replica"`
	Addr    string `json:"addr"`
}

// ClusterNodes lists the nodes of cluster from this node's
// system.clusters, by shard then replica.
func (c *Conn) ClusterNodes(ctx context.Context, cluster string) ([]ClusterNode, error) {
	rows, err := c.db.Query(ctx, `SELECT shard_num, replica_num, host_name, port FROM system.clusters
WHERE cluster = ? ORDER BY shard_num, replica_num`, cluster)
	if err != nil {
		return nil, fmt.Errorf("list the nodes of cluster %s: %w", cluster, err)
	}
	defer rows.Close()
	var out []ClusterNode
	for rows.Next() {
		var (
			n    ClusterNode
			host string
			port uint16
		)
		if err := rows.Scan(&n.Shard, &n.Replica, &host, &port); err != nil {
			return nil, fmt.Errorf("list the nodes of cluster %s: %w", cluster, err)
		}
		n.Addr = net.JoinHostPort(host, strconv.Itoa(int(port)))
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the nodes of cluster %s: %w", cluster, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cluster %s is not in system.clusters of %s: check <remote_servers> in the server config", cluster, c.addr)
	}
	return out, nil
}

// Node returns a connection pool to the node at addr, in c's database
// with c's credentials, opened on first use and closed by Close. It does
// not dial: a query to a node that is down fails within about 2 s.
func (c *Conn) Node(addr string) (driver.Conn, error) {
	if addr == c.addr {
		return c.db, nil
	}
	c.clMu.Lock()
	defer c.clMu.Unlock()
	if db, ok := c.nodes[addr]; ok {
		return db, nil
	}
	db, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{addr},
		Protocol:    clickhouse.Native,
		Auth:        clickhouse.Auth{Database: c.database, Username: c.cfg.User, Password: c.cfg.Password},
		DialTimeout: nodeDialTimeout,
		TLS:         c.tls,
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse node %s: %w", addr, err)
	}
	if c.nodes == nil {
		c.nodes = make(map[string]driver.Conn)
	}
	c.nodes[addr] = db
	return db, nil
}

// closeNodes closes the pools Node opened.
func (c *Conn) closeNodes() {
	c.clMu.Lock()
	defer c.clMu.Unlock()
	for addr, db := range c.nodes {
		db.Close()
		delete(c.nodes, addr)
	}
}
