package testenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
)

// ClusterName is the name of the cluster StartCluster defines in every
// node's remote_servers.
const ClusterName = "surge_test"

// ZooKeeperSessionTimeout is the ZooKeeper session timeout of the nodes of
// a test cluster. A killed node's replicas stay "active" in ZooKeeper that
// long, and a restarted node waits that long before its replicas rejoin
// ("Replica ... appears to be already active"): short keeps restarts quick.
const ZooKeeperSessionTimeout = 3 * time.Second

// Cluster is a real replicated, sharded ClickHouse cluster for tests: one
// ZooKeeper and shards × replicas clickhouse-server processes on loopback
// ports, each with the {shard} and {replica} macros, the cluster
// ClusterName in its remote_servers (internal_replication on) and
// distributed DDL. Nothing is set in the users' profile beyond the local
// server's defaults: what surge needs from the cluster it sets itself.
type Cluster struct {
	ZooKeeper *ZooKeeper
	// Nodes in shard order, then replica order: Nodes[s*replicas+r] is
	// replica r+1 of shard s+1.
	Nodes []*ClusterNode
}

// ClusterNode is one clickhouse-server of a Cluster.
type ClusterNode struct {
	*analytics.LocalServer
	Shard   int    // 1-based, as in system.clusters
	Replica int    // 1-based
	Macro   string // its {replica} macro, e.g. "r1"
}

// StartCluster starts ZooKeeper and shards × replicas clickhouse-servers
// and stops them all (removing their data) when the test ends. Without
// Java, the ZooKeeper jars or clickhouse-server it calls Unavailable.
// Starting 2 × 2 takes about 5-10 s and 1.2 GB of memory.
func StartCluster(t testing.TB, shards, replicas int) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := LaunchCluster(ctx, t.TempDir(), shards, replicas)
	if errors.Is(err, analytics.ErrServerNotInstalled) || errors.Is(err, ErrZooKeeperNotInstalled) {
		Unavailable(t, err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// LaunchCluster is StartCluster outside a test (the benchmarks use it):
// everything lives under dir, and Stop ends it.
func LaunchCluster(ctx context.Context, dir string, shards, replicas int) (*Cluster, error) {
	zk, err := LaunchZooKeeper(filepath.Join(dir, "zookeeper"))
	if err != nil {
		return nil, err
	}
	c := &Cluster{ZooKeeper: zk}
	type ports struct{ tcp, http, inter int }
	all := make([]ports, shards*replicas)
	for i := range all {
		var ps [3]int
		for j := range ps {
			if ps[j], err = pickPort(); err != nil {
				c.Stop()
				return nil, err
			}
		}
		all[i] = ports{ps[0], ps[1], ps[2]}
	}
	var remote strings.Builder
	for s := 0; s < shards; s++ {
		remote.WriteString("            <shard>\n                <internal_replication>true</internal_replication>\n")
		for r := 0; r < replicas; r++ {
			fmt.Fprintf(&remote, "                <replica><host>127.0.0.1</host><port>%d</port></replica>\n", all[s*replicas+r].tcp)
		}
		remote.WriteString("            </shard>\n")
	}
	for s := 0; s < shards; s++ {
		for r := 0; r < replicas; r++ {
			p := all[s*replicas+r]
			macro := fmt.Sprintf("r%d", r+1)
			ndir := filepath.Join(dir, fmt.Sprintf("s%d-%s", s+1, macro))
			conf := fmt.Sprintf(clusterNodeXML, p.inter, zk.Port, ZooKeeperSessionTimeout.Milliseconds(),
				fmt.Sprintf("%02d", s+1), macro, ClusterName, remote.String(), ClusterName)
			if err := os.MkdirAll(filepath.Join(ndir, "config.d"), 0o755); err != nil {
				c.Stop()
				return nil, err
			}
			if err := os.WriteFile(filepath.Join(ndir, "config.d", "cluster.xml"), []byte(conf), 0o644); err != nil {
				c.Stop()
				return nil, err
			}
			srv, err := analytics.StartLocal(ctx, ndir, analytics.WithTCPPort(p.tcp), analytics.WithHTTPPort(p.http),
				analytics.WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				c.Stop()
				return nil, fmt.Errorf("start cluster node shard %d replica %d: %w", s+1, r+1, err)
			}
			c.Nodes = append(c.Nodes, &ClusterNode{LocalServer: srv, Shard: s + 1, Replica: r + 1, Macro: macro})
		}
	}
	return c, nil
}

// Stop stops every node, then ZooKeeper.
func (c *Cluster) Stop() {
	for _, n := range c.Nodes {
		_ = n.Stop()
	}
	c.ZooKeeper.Stop()
}

// clusterNodeXML is a node's config.d drop-in: interserver port,
// ZooKeeper, distributed DDL, macros and the cluster.
const clusterNodeXML = `<?xml version="1.0"?>
<yandex>
    <interserver_http_port>%d</interserver_http_port>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <zookeeper>
        <node><host>127.0.0.1</host><port>%d</port></node>
        <session_timeout_ms>%d</session_timeout_ms>
    </zookeeper>
    <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
    <macros><shard>%s</shard><replica>%s</replica></macros>
    <remote_servers>
        <%s>
%s        </%s>
    </remote_servers>
</yandex>
`

// Addrs are the native addresses of every node, in Nodes order.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr()
	}
	return out
}

// Node returns replica r of shard s (both 1-based).
func (c *Cluster) Node(s, r int) *ClusterNode {
	for _, n := range c.Nodes {
		if n.Shard == s && n.Replica == r {
			return n
		}
	}
	panic(fmt.Sprintf("cluster has no replica %d of shard %d", r, s))
}

// Open opens database on node n (Migrate not applied) and closes it when
// the test ends.
func (n *ClusterNode) Open(t testing.TB, database string) *analytics.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := analytics.Open(ctx, analytics.Config{Addr: n.Addr(), Database: database})
	if err != nil {
		t.Fatalf("open %s on cluster node %s: %v", database, n.Addr(), err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// WaitActive waits until every node answers and every replica of every
// replicated table in database is active in ZooKeeper, for example after a
// node restarted.
func (c *Cluster) WaitActive(t testing.TB, database string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		last = c.inactive(database)
		if last == "" {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("cluster not active within %s: %s", timeout, last)
}

// inactive says what is not active yet, or "".
func (c *Cluster) inactive(database string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, n := range c.Nodes {
		conn, err := analytics.Open(ctx, analytics.Config{Addr: n.Addr(), Database: database, DialTimeout: time.Second})
		if err != nil {
			return err.Error()
		}
		var bad uint64
		err = conn.DB().QueryRow(ctx, `SELECT count() FROM system.replicas
WHERE database = ? AND (is_readonly OR is_session_expired OR active_replicas < total_replicas)`, database).Scan(&bad)
		conn.Close()
		if err != nil {
			return fmt.Sprintf("node %s: %v", n.Addr(), err)
		}
		if bad > 0 {
			return fmt.Sprintf("node %s: %d tables with a replica not active", n.Addr(), bad)
		}
	}
	return ""
}

func pickPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
