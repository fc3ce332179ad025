package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
)

// TestClusterNodeTakenPort starts a cluster node whose native port another
// process holds: it must come up on fresh ports, with remote_servers
// rewritten to the new one.
func TestClusterNodeTakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	l := clusterLayout{dir: t.TempDir(), shards: 1, replicas: 1, used: map[int]bool{port: true}}
	p, err := l.pick()
	if err != nil {
		t.Fatal(err)
	}
	l.zkPort = p.inter // nothing listens there; the node starts without ZooKeeper
	if p, err = l.pick(); err != nil {
		t.Fatal(err)
	}
	p.tcp = port
	l.ports = []nodePorts{p}
	if err := l.writeAll(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := l.startNode(ctx, 0)
	if errors.Is(err, analytics.ErrServerNotInstalled) {
		Unavailable(t, err.Error())
	}
	if err != nil {
		t.Fatalf("start a node whose port is taken: %v", err)
	}
	defer srv.Stop()
	if srv.Addr() == taken.Addr().String() || l.ports[0].tcp == port {
		t.Fatalf("node started on the taken port %d", port)
	}
	conf, err := os.ReadFile(filepath.Join(l.nodeDir(0), "config.d", "cluster.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("<port>%d</port>", l.ports[0].tcp); !strings.Contains(string(conf), want) {
		t.Errorf("remote_servers after the retry lacks %s:\n%s", want, conf)
	}
}
