package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
)

// TestDoctorCluster runs surge doctor against a real 2 × 2 cluster holding
// rows: it sees them through the nodes' local tables (the Distributed
// tables have no parts), and reports the nodes, replication, ZooKeeper,
// shard balance and surge's settings; with a replica killed it names it.
func TestDoctorCluster(t *testing.T) {
	t.Chdir(t.TempDir())
	cl := testenv.StartCluster(t, 2, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := cl.Node(1, 1).Open(t, "surge")
	if _, err := conn.Migrate(ctx, analytics.WithCluster(testenv.ClusterName)); err != nil {
		t.Fatal(err)
	}
	b := analytics.NewBatch()
	for p := int32(0); p < 8; p++ {
		for off := int64(0); off < 25; off++ {
			b.AddUserEvent(analytics.Source{Topic: "user-events", Partition: p, Offset: off}, &schemas.UserEvent{
				EventID: schemas.NewEventID(), Version: 1, UserID: "u-1", SessionID: "s", Type: schemas.EventAddToCart,
				SKU: "sku-1", CampaignID: "bf", TS: time.Now()})
		}
	}
	if err := conn.Write(ctx, b, time.Time{}); err != nil {
		t.Fatal(err)
	}
	topics := stream.DefaultTopics()
	brokers := testenv.KafkaPartitions(t, 4, topics.All()...)

	doctor := func() map[string]doctorCheck {
		t.Helper()
		out, stderr, _ := run(t, "doctor", "--brokers", strings.Join(brokers, ","),
			"--clickhouse", cl.Node(2, 1).Addr(), "--clickhouse-database", "surge", "--min-disk-free", "0.01", "--output", "json")
		var rep doctorReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("doctor output is not JSON: %v\n%s\n%s", err, out, stderr)
		}
		checks := make(map[string]doctorCheck)
		for _, c := range rep.Checks {
			checks[c.Name] = c
		}
		return checks
	}
	checks := doctor()
	for _, name := range []string{"clickhouse nodes", "clickhouse replication", "clickhouse zookeeper",
		"clickhouse shard balance", "clickhouse cluster settings", "sink freshness", "clickhouse parts"} {
		c, ok := checks[name]
		if !ok || c.Status != analytics.CheckOK {
			t.Errorf("check %s: got %+v, want ok", name, c)
		}
	}
	if m := checks["sink freshness"].Message; !strings.Contains(m, "user_events 200 rows") {
		t.Errorf("sink freshness: got %q, want the 200 user events seen through the local tables", m)
	}
	if m := checks["clickhouse parts"].Message; !strings.Contains(m, "@127.0.0.1:") {
		t.Errorf("clickhouse parts: got %q, want the node named with its table", m)
	}

	down := cl.Node(1, 2)
	if err := down.Kill(); err != nil {
		t.Fatal(err)
	}
	c := doctor()["clickhouse nodes"]
	if c.Status != analytics.CheckWarn || !strings.Contains(c.Message, down.Addr()) {
		t.Errorf("clickhouse nodes with %s killed: got %+v, want a warning naming it", down.Addr(), c)
	}
}
