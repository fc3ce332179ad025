package analytics

import (
	"context"
	"database/sql"
	"errors"
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
//   - Watermarks and Positions (the sink's write-ahead marks, with the
//     probe of an open intent) read each shard from one of its replicas
//     that holds every part committed on the shard of what they read (see
//     inSync), never through the Distributed table, which may pick a
//     lagging replica;
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
// On a cluster it first checks that INSERTs get ClusterSettings and fails
// with ErrClusterSettings, naming them, when they do not.
func (c *Conn) Cluster(ctx context.Context) (string, error) {
	c.clMu.Lock()
	defer c.clMu.Unlock()
	if c.clKnown {
		return c.cluster, nil
	}
	name, ok, err := c.detectCluster(ctx)
	if err != nil || !ok {
		return "", err // not migrated yet: ask again later
	}
	if name != "" {
		if err := c.checkClusterSettings(ctx); err != nil {
			return "", err
		}
	}
	c.cluster, c.clKnown = name, true
	return c.cluster, nil
}

// detectCluster reads the cluster of the Distributed table orders; ok is
// false while the table does not exist.
func (c *Conn) detectCluster(ctx context.Context) (name string, ok bool, err error) {
	var engine string
	err = c.db.QueryRow(ctx, "SELECT engine_full FROM system.tables WHERE database = ? AND name = ?",
		c.database, string(TableOrders)).Scan(&engine)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) || strings.Contains(err.Error(), "no rows") {
			return "", false, nil
		}
		return "", false, fmt.Errorf("read the engine of %s.%s: %w", c.database, TableOrders, err)
	}
	if m := distributedRE.FindStringSubmatch(engine); m != nil {
		return m[1], true, nil
	}
	return "", true, nil
}

// ErrClusterSettings is returned (wrapped) when the server does not let
// surge set ClusterSettings per query and the user's profile does not
// have them either. The error names each setting and its value.
var ErrClusterSettings = errors.New("clickhouse cluster settings missing")

// checkClusterSettings verifies that INSERTs get ClusterSettings: set per
// query, or (where the server forbids that, e.g. by a settings
// constraint) already so in the user's profile.
func (c *Conn) checkClusterSettings(ctx context.Context) error {
	got, err := c.settings(clickhouse.Context(ctx, clickhouse.WithSettings(ClusterSettings)))
	if err != nil {
		// Not settable per query: the profile must have them.
		if got, err2 := c.settings(ctx); err2 == nil {
			if missing := missingSettings(got); missing != "" {
				return fmt.Errorf("%w: user %s may not set them per query (%v) and its profile has %s; set %s in the profile",
					ErrClusterSettings, c.cfg.User, err, missing, wantSettings())
			}
			return nil
		}
		return fmt.Errorf("check cluster settings: %w", err)
	}
	if missing := missingSettings(got); missing != "" {
		return fmt.Errorf("%w: set per query, the server still reports %s; set %s in the profile of user %s",
			ErrClusterSettings, missing, wantSettings(), c.cfg.User)
	}
	return nil
}

// settings reads the values of ClusterSettings as a query under ctx sees them.
func (c *Conn) settings(ctx context.Context) (map[string]string, error) {
	rows, err := c.db.Query(ctx, "SELECT name, value FROM system.settings WHERE name IN ('insert_distributed_sync', 'insert_quorum')")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]string)
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return nil, err
		}
		out[name] = value
	}
	return out, rows.Err()
}

// missingSettings names the settings whose value in got differs from
// ClusterSettings, as "name=value, ...", or "".
func missingSettings(got map[string]string) string {
	var bad []string
	for _, name := range clusterSettingNames {
		if want := fmt.Sprint(ClusterSettings[name]); got[name] != want {
			bad = append(bad, name+"="+got[name])
		}
	}
	return strings.Join(bad, ", ")
}

var clusterSettingNames = []string{"insert_distributed_sync", "insert_quorum"}

func wantSettings() string {
	var s []string
	for _, name := range clusterSettingNames {
		s = append(s, fmt.Sprintf("%s=%v", name, ClusterSettings[name]))
	}
	return strings.Join(s, " and ")
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
