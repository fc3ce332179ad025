package analytics_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/schemas"
)

func TestClusterDDLGolden(t *testing.T) {
	got, err := analytics.ClusterDDL("surge", "surge")
	if err != nil {
		t.Fatalf("ClusterDDL: %v", err)
	}
	analytics.CheckGolden(t, filepath.Join("cluster", "schema.sql.golden"), []byte(got))
}

func TestClusterDDLShape(t *testing.T) {
	ddl, err := analytics.ClusterDDL("shop", "peak")
	if err != nil {
		t.Fatalf("ClusterDDL: %v", err)
	}
	tables := []string{"orders", "order_status", "user_events", "coupons", "sink_rejects",
		"orders_per_minute", "events_per_minute", "coupons_per_minute"}
	for _, tbl := range tables {
		local := "CREATE TABLE IF NOT EXISTS shop." + tbl + "_local ON CLUSTER peak"
		dist := "CREATE TABLE IF NOT EXISTS shop." + tbl + " ON CLUSTER peak"
		path := "'/clickhouse/tables/{shard}/shop/" + tbl + "_local', '{replica}'"
		engine := "Distributed(peak, shop, " + tbl + "_local, "
		for _, want := range []string{local, dist, path, engine} {
			if !strings.Contains(ddl, want) {
				t.Errorf("table %s: got DDL without %q, want it", tbl, want)
			}
		}
		if i, j := strings.Index(ddl, local), strings.Index(ddl, dist+"\n"); i < 0 || j < i {
			t.Errorf("table %s: got the Distributed table at %d before its local table at %d, want it after", tbl, j, i)
		}
	}
	for _, mv := range []struct{ name, to, from string }{
		{"orders_per_minute_mv", "orders_per_minute_local", "orders_local"},
		{"events_per_minute_mv", "events_per_minute_local", "user_events_local"},
		{"coupons_per_minute_mv", "coupons_per_minute_local", "coupons_local"},
	} {
		re := regexp.MustCompile(`(?s)CREATE MATERIALIZED VIEW IF NOT EXISTS shop\.` + mv.name + ` ON CLUSTER peak\nTO shop\.` + mv.to + `\n.*?FROM shop\.` + mv.from + `\n`)
		if !re.MatchString(ddl) {
			t.Errorf("view %s: got no ON CLUSTER view from shop.%s into shop.%s, want one", mv.name, mv.from, mv.to)
		}
	}
	for _, want := range []string{
		"ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/shop/orders_per_minute_local', '{replica}')",
		"ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/shop/events_per_minute_local', '{replica}')",
		"Distributed(peak, shop, orders_local, cityHash64(kafka_topic, kafka_partition))",
		"Distributed(peak, shop, orders_per_minute_local, rand())",
		"ReplicatedMergeTree('/clickhouse/tables/all/shop/schema_migrations', '{shard}-{replica}')",
		"ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/shop/sink_offsets_local', '{replica}', seq)",
		"Distributed(peak, shop, sink_offsets_local, cityHash64(kafka_topic, kafka_partition))",
		// The backfill of the marks, per shard from local table to local table.
		"/* on one in-sync replica of each shard */ INSERT INTO shop.sink_offsets_local (kafka_topic, tbl, kafka_partition, seq, done, prev, hi, ingested_at)\n" +
			"SELECT kafka_topic, 'orders', kafka_partition, 0, 1, -1, max(kafka_offset), max(ingested_at)\nFROM shop.orders_local GROUP BY",
	} {
		if !strings.Contains(ddl, want) {
			t.Errorf("got DDL without %q, want it", want)
		}
	}
	if strings.Contains(ddl, "{db}") {
		t.Error("got {db} left in the DDL, want the database name")
	}
}

func TestClusterDDLErrors(t *testing.T) {
	tests := []struct {
		name, cluster, statement string
		tables                   []string
		want                     string
	}{
		{"cluster name", "peak-1", "CREATE TABLE IF NOT EXISTS {db}.x\n(\n    a String\n)\nENGINE = MergeTree()\nORDER BY a", nil, `cluster "peak-1"`},
		{"unknown statement", "peak", "ALTER TABLE {db}.orders ADD COLUMN x String", []string{"orders"}, "no cluster form"},
		{"view over a missing table", "peak", "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.v\nTO {db}.r\nAS SELECT a FROM {db}.missing", []string{"r"}, "reads missing"},
		{"view into a missing table", "peak", "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.v\nTO {db}.r\nAS SELECT a FROM {db}.t", []string{"t"}, "writes to r"},
		{"partition without topic", "peak", "CREATE TABLE IF NOT EXISTS {db}.x\n(\n    kafka_partition Int32,\n    kafka_offset Int64\n)\nENGINE = MergeTree()\nORDER BY kafka_offset", nil, "kafka_partition but no kafka_topic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.name == "cluster name" {
				_, err = analytics.ClusterDDL("surge", tt.cluster)
			} else {
				_, err = analytics.RenderClusterStatementForTest(tt.cluster, tt.statement, tt.tables...)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := analytics.ClusterDDL("bad-db", "peak"); err == nil {
		t.Error("ClusterDDL with database bad-db: got no error, want one")
	}
}

// clusterServer starts a private clickhouse-server whose config defines
// the one-shard cluster surge_test pointing at itself, the {shard} and
// {replica} macros, and insert_distributed_sync=1 in the default profile:
// what a production cluster gives surge, minus ZooKeeper.
func clusterServer(t *testing.T) *analytics.LocalServer {
	t.Helper()
	port := freePort(t)
	files := map[string]string{
		"config.d/cluster.xml": fmt.Sprintf(`<yandex>
    <remote_servers>
        <surge_test>
            <shard>
                <internal_replication>true</internal_replication>
                <replica><host>127.0.0.1</host><port>%d</port></replica>
            </shard>
        </surge_test>
    </remote_servers>
    <macros><shard>01</shard><replica>r1</replica></macros>
</yandex>
`, port),
		"users.d/sync.xml": `<yandex>
    <profiles><default><insert_distributed_sync>1</insert_distributed_sync></default></profiles>
</yandex>
`,
	}
	return startLocalWithFiles(t, "clickhouse-server with a cluster config", files, analytics.WithTCPPort(port))
}

// TestClusterDDLOnServer runs the cluster schema on a real server. Without
// ZooKeeper, ON CLUSTER and Replicated*MergeTree cannot complete, so it
// proves what it can: (1) every statement exactly as Migrate sends it is
// parsed and its engine arguments accepted — the server's answer is a
// missing-ZooKeeper error, never a syntax or argument error; (2) the same
// schema with plain engines and without ON CLUSTER creates Distributed
// tables over local ones on the cluster surge_test; rows written by the
// sink's writer through the Distributed tables land in the local tables
// and feed the rollups through the views; the sink's watermarks and every
// named report read correctly through the Distributed tables.
func TestClusterDDLOnServer(t *testing.T) {
	srv := clusterServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const db = "surge_cluster"
	conn, err := analytics.Open(ctx, analytics.Config{Addr: srv.Addr(), Database: db})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer conn.Close()

	t.Run("verbatim statements parse", func(t *testing.T) {
		sts, err := analytics.RenderClusterForTest("surge_test", true, true)
		if err != nil {
			t.Fatal(err)
		}
		for i, st := range sts {
			err := conn.DB().Exec(ctx, strings.ReplaceAll(st, "{db}", "surge_verbatim"))
			var ex *clickhouse.Exception
			switch {
			case err == nil:
				// CREATE DATABASE ON CLUSTER may not need ZooKeeper on every release.
			case strings.HasPrefix(st, "/*") && errors.As(err, &ex) && ex.Code == 81:
				// A backfill run per shard: parsed, and its database is
				// missing as the CREATE DATABASE ON CLUSTER failed.
			case !errors.As(err, &ex):
				t.Errorf("statement %d: got %v, want a server exception", i+1, err)
			case ex.Code == 62 || ex.Code == 42 || ex.Code == 36:
				t.Errorf("statement %d: got a syntax or argument error %d %s, want it parsed\n%s", i+1, ex.Code, ex.Message, st)
			case !strings.Contains(strings.ToLower(ex.Message), "zookeeper") && !strings.Contains(ex.Message, "DDL"):
				t.Errorf("statement %d: got error %d %s, want one about ZooKeeper or distributed DDL", i+1, ex.Code, ex.Message)
			}
		}
		// Without ON CLUSTER the replicated engines get as far as ZooKeeper.
		plain, err := analytics.RenderClusterForTest("surge_test", true, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := conn.DB().Exec(ctx, "CREATE DATABASE IF NOT EXISTS surge_verbatim"); err != nil {
			t.Fatal(err)
		}
		defer conn.DB().Exec(ctx, "DROP DATABASE IF EXISTS surge_verbatim")
		replicated := 0
		for _, st := range plain {
			if !strings.Contains(st, "ENGINE = Replicated") {
				continue
			}
			replicated++
			err := conn.DB().Exec(ctx, strings.ReplaceAll(st, "{db}", "surge_verbatim"))
			var ex *clickhouse.Exception
			if !errors.As(err, &ex) || !strings.Contains(strings.ToLower(ex.Message), "zookeeper") {
				first, _, _ := strings.Cut(st, "\n")
				t.Errorf("%s: got %v, want the server to accept it up to the missing ZooKeeper", first, err)
			}
		}
		if replicated != 16 {
			t.Errorf("replicated tables: got %d, want 16 (15 tables and schema_migrations)", replicated)
		}
	})

	t.Run("distributed schema works", func(t *testing.T) {
		sts, err := analytics.RenderClusterForTest("surge_test", false, false)
		if err != nil {
			t.Fatal(err)
		}
		for i, st := range sts {
			if err := conn.DB().Exec(ctx, strings.ReplaceAll(st, "{db}", db)); err != nil {
				t.Fatalf("statement %d: %v\n%s", i+1, err, st)
			}
		}
		var engine string
		if err := conn.DB().QueryRow(ctx, "SELECT engine FROM system.tables WHERE database = ? AND name = 'orders'", db).Scan(&engine); err != nil || engine != "Distributed" {
			t.Fatalf("orders engine: got %q (%v), want Distributed", engine, err)
		}

		b := analytics.NewBatch()
		created := time.Date(2025, 11, 28, 10, 0, 0, 0, time.UTC)
		var want int64
		for p := int32(0); p < 4; p++ {
			for off := int64(0); off < 5; off++ {
				amount := 1000 + int64(p)*100 + off
				want += amount
				b.AddOrder(analytics.Source{Topic: "orders", Partition: p, Offset: off}, &schemas.Order{
					EventID: fmt.Sprintf("e-%d-%d", p, off), Version: 1, OrderID: fmt.Sprintf("o-%d-%d", p, off),
					UserID: fmt.Sprintf("u-%d", off), Items: []schemas.Item{{SKU: "sku-1", Qty: 1, UnitPrice: amount}},
					Amount: amount, Currency: "EUR", CampaignID: "bf", Priority: schemas.PriorityNormal, CreatedAt: created,
				})
			}
		}
		if err := conn.Write(ctx, b, time.Time{}); err != nil {
			t.Fatalf("write through the Distributed tables: %v", err)
		}
		var local uint64
		if err := conn.DB().QueryRow(ctx, "SELECT count() FROM "+db+".orders_local").Scan(&local); err != nil || local != 20 {
			t.Errorf("orders_local rows right after the write: got %d (%v), want 20 (insert_distributed_sync=1)", local, err)
		}
		wm, err := conn.Watermarks(ctx, "orders")
		if err != nil {
			t.Fatalf("watermarks through the Distributed tables: %v", err)
		}
		for p := int32(0); p < 4; p++ {
			if got := wm[analytics.Table("orders")][p]; got != 4 {
				t.Errorf("watermark of orders/%d: got %d, want 4", p, got)
			}
		}
		var gmv int64
		if err := conn.DB().QueryRow(ctx, "SELECT sumMerge(gmv) FROM orders_per_minute WHERE campaign_id = 'bf'").Scan(&gmv); err != nil || gmv != want {
			t.Errorf("GMV from the rollup through its Distributed table: got %d (%v), want %d", gmv, err, want)
		}
		for _, name := range analytics.ReportNames() {
			if _, err := conn.Report(ctx, name, analytics.ReportParams{}); err != nil {
				t.Errorf("report %s over the Distributed tables: %v", name, err)
			}
		}
	})

	t.Run("Migrate with a cluster", func(t *testing.T) {
		_, err := conn.Migrate(ctx, analytics.WithCluster("surge_test"))
		if err == nil || !strings.Contains(err.Error(), "surge_test") {
			t.Errorf("Migrate WithCluster on a server without ZooKeeper: got %v, want an error naming the cluster", err)
		}
		if _, err := conn.Migrate(ctx, analytics.WithCluster("no-such")); err == nil || !strings.Contains(err.Error(), `"no-such"`) {
			t.Errorf("Migrate WithCluster(no-such): got %v, want a cluster name error", err)
		}
	})
}
