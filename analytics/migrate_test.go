package analytics_test

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
)

var allMigrations = []string{"001_raw_tables", "002_sink_rejects", "003_rollups", "004_sink_dedup", "005_sink_offsets", "006_coupons_by_currency", "007_campaign_buyers", "008_cluster_sink_offsets", "009_sink_claims", "010_sink_dedup_claims"}

func TestMigrateIdempotent(t *testing.T) {
	srv := testenv.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const db = "t_migrate_idempotent"
	conn, err := analytics.Open(ctx, analytics.Config{Addr: srv.Addr(), Database: db})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	defer conn.DB().Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)

	before, err := conn.MigrationStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range before {
		if m.Applied {
			t.Errorf("fresh database: migration %s already applied", m.Name)
		}
	}

	runs := []struct {
		name string
		want []string
	}{
		{"first run", allMigrations},
		{"second run", nil},
		{"third run", nil},
	}
	for _, r := range runs {
		got, err := conn.Migrate(ctx)
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		if !reflect.DeepEqual(got, r.want) {
			t.Errorf("%s: applied %q, want %q", r.name, got, r.want)
		}
	}

	status, err := conn.MigrationStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range status {
		names = append(names, m.Name)
		if !m.Applied || m.AppliedAt.IsZero() {
			t.Errorf("status %s: applied %v at %v, want applied with a time", m.Name, m.Applied, m.AppliedAt)
		}
		want, _ := strconv.Atoi(m.Name[:3]) // the number the file name starts with
		if got := m.Version; got != uint32(want) {
			t.Errorf("status %s: version %d, want %d", m.Name, got, want)
		}
	}
	if !reflect.DeepEqual(names, allMigrations) {
		t.Errorf("status names %q, want %q", names, allMigrations)
	}
	var recorded uint64
	if err := conn.DB().QueryRow(ctx, "SELECT count() FROM schema_migrations").Scan(&recorded); err != nil {
		t.Fatal(err)
	}
	if got, want := recorded, uint64(len(allMigrations)); got != want {
		t.Errorf("schema_migrations holds %d rows, want %d", got, want)
	}
}

// TestSchema pins every table's engine, keys and columns: the sink and the
// bench depend on them.
func TestSchema(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	ctx := context.Background()
	rows, err := conn.DB().Query(ctx, `SELECT name, engine, partition_key, sorting_key
FROM system.tables WHERE database = ? ORDER BY name`, conn.Database())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out strings.Builder
	var tables []string
	for rows.Next() {
		var name, engine, part, sort string
		if err := rows.Scan(&name, &engine, &part, &sort); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "%s %s partition=(%s) order=(%s)\n", name, engine, part, sort)
		if engine != "MaterializedView" { // their columns are their TO table's
			tables = append(tables, name)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, table := range tables {
		cols, err := conn.DB().Query(ctx, "DESCRIBE TABLE "+table)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "\n%s\n", table)
		for cols.Next() {
			var name, typ, defKind, defExpr string
			// DESCRIBE has more columns on newer servers; the first four
			// are the same everywhere.
			vals := []any{&name, &typ, &defKind, &defExpr}
			for range cols.Columns()[4:] {
				var skip string
				vals = append(vals, &skip)
			}
			if err := cols.Scan(vals...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&out, "    %s %s\n", name, typ)
		}
		cols.Close()
	}
	analytics.CheckGolden(t, "schema.golden", []byte(out.String()))
}
