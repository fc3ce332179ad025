package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
)

// clusterReadyTimeout bounds how long LaunchCluster waits, after every node
// answered a ping, for the nodes to see ZooKeeper and the whole cluster.
const clusterReadyTimeout = 90 * time.Second

// waitReady waits until every node answers a query, reads ZooKeeper's root
// and lists exactly the native ports tcp as ClusterName in system.clusters
// (a node reloads remote_servers a few seconds after its file changed).
func (c *Cluster) waitReady(ctx context.Context, tcp []int) error {
	ctx, cancel := context.WithTimeout(ctx, clusterReadyTimeout)
	defer cancel()
	want := make([]string, len(tcp))
	for i, p := range tcp {
		want[i] = fmt.Sprint(p)
	}
	sort.Strings(want)
	for _, n := range c.Nodes {
		var last error
		for {
			if last = n.ready(ctx, strings.Join(want, ",")); last == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("cluster node %s (shard %d replica %d) not ready within %s: %v; server log:\n%s",
					n.Addr(), n.Shard, n.Replica, clusterReadyTimeout, last, n.logTail(20))
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	return nil
}

// ready says why node n is not ready yet, or nil.
func (n *ClusterNode) ready(ctx context.Context, ports string) error {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := analytics.Open(qctx, analytics.Config{Addr: n.Addr(), Database: "system", DialTimeout: time.Second})
	if err != nil {
		return err
	}
	defer conn.Close()
	var zk uint64
	if err := conn.DB().QueryRow(qctx, `SELECT count() FROM system.zookeeper WHERE path = '/'`).Scan(&zk); err != nil {
		return fmt.Errorf("read zookeeper: %w", err)
	}
	if zk == 0 {
		return fmt.Errorf("zookeeper root has no nodes yet")
	}
	var got string
	if err := conn.DB().QueryRow(qctx, `SELECT arrayStringConcat(arraySort(groupArray(toString(port))), ',')
FROM system.clusters WHERE cluster = ?`, ClusterName).Scan(&got); err != nil {
		return fmt.Errorf("read system.clusters: %w", err)
	}
	if got != ports {
		return fmt.Errorf("system.clusters lists ports [%s] for %s, want [%s]", got, ClusterName, ports)
	}
	return nil
}

// logTail is the last lines of the node's server error log.
func (n *ClusterNode) logTail(lines int) string {
	b, err := os.ReadFile(filepath.Join(n.Dir(), "log", "clickhouse-server.err.log"))
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// logOnFailure logs, when the test failed, the tail of every node's error
// log and whether it still runs, so a node that crashed or lost ZooKeeper
// shows in the test output (the directories are removed after the test).
func (c *Cluster) logOnFailure(t testing.TB) {
	if !t.Failed() {
		return
	}
	for _, n := range c.Nodes {
		t.Logf("cluster node shard %d replica %d (%s) error log tail:\n%s", n.Shard, n.Replica, n.Addr(), n.logTail(30))
	}
}
