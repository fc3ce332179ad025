package testenv

import (
	"errors"
	"net"
	"strings"
	"testing"
)

// TestZooKeeperTakenPortLog starts ZooKeeper on a port another process
// holds: it must exit with a log that says the address is in use, the
// message LaunchZooKeeper retries on.
func TestZooKeeperTakenPortLog(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	java, cp, err := zooKeeperClasspath()
	if errors.Is(err, ErrZooKeeperNotInstalled) {
		Unavailable(t, err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	z, err := launchZooKeeperOn(t.TempDir(), java, cp, taken.Addr().(*net.TCPAddr).Port)
	if err == nil {
		z.Stop()
		t.Fatal("zookeeper started on a taken port")
	}
	if !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("zookeeper on a taken port: %v; want the log to say the address is already in use", err)
	}
}
