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
	t.Cleanup(func() { c.logOnFailure(t) }) // runs first, while the logs exist
	return c
}

// LaunchCluster is StartCluster outside a test (the benchmarks use it):
// everything lives under dir, and Stop ends it. It returns once every node
// answers a query, sees ZooKeeper and has the whole cluster in
// system.clusters. A node whose port was taken by another process between
// picking and binding ("Address already in use") is started again on fresh
// ports, and the other nodes' remote_servers are rewritten to match.
func LaunchCluster(ctx context.Context, dir string, shards, replicas int) (*Cluster, error) {
	zk, err := LaunchZooKeeper(filepath.Join(dir, "zookeeper"))
	if err != nil {
		return nil, err
	}
	c := &Cluster{ZooKeeper: zk}
	l := clusterLayout{dir: dir, shards: shards, replicas: replicas, zkPort: zk.Port,
		used: make(map[int]bool), ports: make([]nodePorts, shards*replicas)}
	for i := range l.ports {
		if l.ports[i], err = l.pick(); err != nil {
			c.Stop()
			return nil, err
		}
	}
	if err := l.writeAll(); err != nil {
		c.Stop()
		return nil, err
	}
	for i := range l.ports {
		s, r := i/replicas+1, i%replicas+1
		srv, err := l.startNode(ctx, i)
		if err != nil {
			c.Stop()
			return nil, fmt.Errorf("start cluster node shard %d replica %d: %w", s, r, err)
		}
		c.Nodes = append(c.Nodes, &ClusterNode{LocalServer: srv, Shard: s, Replica: r, Macro: fmt.Sprintf("r%d", r)})
	}
	if err := c.waitReady(ctx, l.tcpPorts()); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// portAttempts is how many times a node or ZooKeeper is started on fresh
// ports when its port was taken before it could bind it.
const portAttempts = 4

// nodePorts are the loopback ports of one node.
type nodePorts struct{ tcp, http, inter int }

// clusterLayout is the ports and configuration files of a cluster being
// started.
type clusterLayout struct {
	dir              string
	shards, replicas int
	zkPort           int
	ports            []nodePorts
	used             map[int]bool // every port handed out, so no two nodes share one
}

// pick returns three free ports not handed out before.
func (l *clusterLayout) pick() (nodePorts, error) {
	var ps [3]int
	for j := range ps {
		for {
			p, err := pickPort()
			if err != nil {
				return nodePorts{}, err
			}
			if !l.used[p] {
				l.used[p] = true
				ps[j] = p
				break
			}
		}
	}
	return nodePorts{ps[0], ps[1], ps[2]}, nil
}

func (l *clusterLayout) nodeDir(i int) string {
	return filepath.Join(l.dir, fmt.Sprintf("s%d-r%d", i/l.replicas+1, i%l.replicas+1))
}

func (l *clusterLayout) tcpPorts() []int {
	out := make([]int, len(l.ports))
	for i, p := range l.ports {
		out[i] = p.tcp
	}
	return out
}

// writeAll writes every node's config.d/cluster.xml for the current ports.
// A running clickhouse-server reloads remote_servers from it by itself.
func (l *clusterLayout) writeAll() error {
	var remote strings.Builder
	for s := 0; s < l.shards; s++ {
		remote.WriteString("            <shard>\n                <internal_replication>true</internal_replication>\n")
		for r := 0; r < l.replicas; r++ {
			fmt.Fprintf(&remote, "                <replica><host>127.0.0.1</host><port>%d</port></replica>\n", l.ports[s*l.replicas+r].tcp)
		}
		remote.WriteString("            </shard>\n")
	}
	for i, p := range l.ports {
		conf := fmt.Sprintf(clusterNodeXML, p.inter, l.zkPort, ZooKeeperSessionTimeout.Milliseconds(),
			fmt.Sprintf("%02d", i/l.replicas+1), fmt.Sprintf("r%d", i%l.replicas+1), ClusterName, remote.String(), ClusterName)
		ndir := l.nodeDir(i)
		if err := os.MkdirAll(filepath.Join(ndir, "config.d"), 0o755); err != nil {
			return err
		}
		// Write then rename, so a running server never reads half a file.
		tmp := filepath.Join(ndir, "cluster.xml.tmp")
		if err := os.WriteFile(tmp, []byte(conf), 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(ndir, "config.d", "cluster.xml")); err != nil {
			return err
		}
	}
	return nil
}

// startNode starts node i, on fresh ports (and with every node's
// configuration rewritten) each time one of its ports was already taken.
func (l *clusterLayout) startNode(ctx context.Context, i int) (*analytics.LocalServer, error) {
	for attempt := 1; ; attempt++ {
		p := l.ports[i]
		srv, err := analytics.StartLocal(ctx, l.nodeDir(i), analytics.WithTCPPort(p.tcp), analytics.WithHTTPPort(p.http),
			analytics.WithLogger(slog.New(slog.DiscardHandler)))
		if err == nil {
			return srv, nil
		}
		if attempt == portAttempts || !strings.Contains(err.Error(), "already in use") {
			return nil, err
		}
		if l.ports[i], err = l.pick(); err != nil {
			return nil, err
		}
		if err := l.writeAll(); err != nil {
			return nil, err
		}
	}
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
    <!-- A node killed with SIGKILL mid-merge may find parts ZooKeeper does
         not know on restart; the tests kill nodes on purpose, so it starts
         anyway (and fetches what it lacks) instead of refusing to start
         ("unexpected parts") as 18.16 does past half the rows. -->
    <merge_tree><replicated_max_ratio_of_wrong_parts>1</replicated_max_ratio_of_wrong_parts></merge_tree>
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
