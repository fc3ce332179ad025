package analytics_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
)

func TestHealthMigrated(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, err := conn.Health(ctx)
	if err != nil {
		t.Fatalf("Health: %v", err)
	}
	status, err := conn.MigrationStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m := h.Migrations; m.Embedded != len(status) || m.Applied != len(status) || len(m.Pending) != 0 {
		t.Errorf("migrations: got %+v, want all %d applied", m, len(status))
	}
	if h.Version == "" || h.At.IsZero() {
		t.Errorf("got version %q at %v, want both set", h.Version, h.At)
	}
	// The local server on 127.0.0.1 is measured: system.disks on a current
	// server, statfs on 18.16.
	if len(h.Disks) == 0 {
		t.Fatalf("no disk measured: %s", h.DiskNote)
	}
	if d := h.Disks[0]; d.Total == 0 || d.Free > d.Total || (d.Source != "statfs" && d.Source != "system.disks") {
		t.Errorf("disk: got %+v, want 0 < free ≤ total and a known source", d)
	}
	if h.PartsToThrowInsert == 0 || h.PartsToDelayInsert == 0 || h.PartsToDelayInsert > h.PartsToThrowInsert {
		t.Errorf("part limits: got delay %d, throw %d; want both set, delay ≤ throw", h.PartsToDelayInsert, h.PartsToThrowInsert)
	}
	if len(h.Freshness) != 0 {
		t.Errorf("freshness of empty tables: got %+v, want none", h.Freshness)
	}

	// Three inserts into sink_rejects: three parts in this month's
	// partition, and a freshness entry.
	for i := range 3 {
		b, err := conn.DB().PrepareBatch(ctx, `INSERT INTO sink_rejects (reason, raw, kafka_topic, kafka_partition, kafka_offset, ingested_at)`)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Append("bad", "{}", "orders", int32(0), int64(i), time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	h, err = conn.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rejectParts uint64
	for _, p := range h.Parts {
		if p.Table == "sink_rejects" {
			rejectParts = p.Parts
		}
	}
	if rejectParts < 1 || rejectParts > 3 {
		t.Errorf("sink_rejects parts: got %d, want 1 to 3 (three inserts, maybe merged): %+v", rejectParts, h.Parts)
	}
	if len(h.Freshness) != 1 || h.Freshness[0].Table != "sink_rejects" || h.Freshness[0].Rows != 3 {
		t.Fatalf("freshness: got %+v, want sink_rejects with 3 rows", h.Freshness)
	}
	if age := h.At.Sub(h.Freshness[0].LatestIngest); age < 0 || age > time.Minute {
		t.Errorf("newest row: got %s old, want under a minute", age)
	}
	for _, c := range h.Checks(analytics.HealthLimits{MinDiskFree: 0.0001}) {
		if c.Status != analytics.CheckOK {
			t.Errorf("check %s: got %s (%s), want ok", c.Name, c.Status, c.Message)
		}
	}
}

func TestHealthUnmigrated(t *testing.T) {
	srv := testenv.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	conn, err := analytics.Open(ctx, analytics.Config{Addr: srv.Addr(), Database: name})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	defer conn.DB().Exec(context.Background(), "DROP DATABASE IF EXISTS "+name)

	h, err := conn.Health(ctx)
	if err != nil {
		t.Fatalf("Health: %v", err)
	}
	if h.Migrations.Applied != 0 || len(h.Migrations.Pending) != h.Migrations.Embedded || h.Migrations.Embedded == 0 {
		t.Errorf("migrations: got %+v, want none applied, all pending", h.Migrations)
	}
	var tables uint64
	if err := conn.DB().QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = currentDatabase()").Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("Health created %d tables, want none (it only reads)", tables)
	}
	if len(h.Disks) == 0 || h.Disks[0].Total == 0 {
		t.Errorf("disk of an empty database: got %+v (%s), want it measured", h.Disks, h.DiskNote)
	}
	c := h.Checks(analytics.HealthLimits{})[0]
	if c.Status != analytics.CheckFail || !strings.Contains(c.Message, "001_raw_tables") || !strings.Contains(c.Fix, "surge migrate") {
		t.Errorf("migrations check: got %+v, want fail naming 001_raw_tables and surge migrate", c)
	}
}

func TestHealthChecks(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	base := func() *analytics.Health {
		return &analytics.Health{
			At:                 now,
			Migrations:         analytics.MigrationHealth{Embedded: 3, Applied: 3},
			Disks:              []analytics.DiskSpace{{Name: "default", Path: "/data", Free: 50, Total: 100}},
			Parts:              []analytics.PartitionParts{{Table: "orders", Partition: "202611", Parts: 20}},
			PartsToDelayInsert: 150, PartsToThrowInsert: 300,
			Freshness: []analytics.TableFreshness{{Table: "orders", Rows: 10, LatestIngest: now.Add(-10 * time.Minute)}},
		}
	}
	tests := []struct {
		name   string
		change func(*analytics.Health)
		limits analytics.HealthLimits
		check  string
		want   string
		text   string
	}{
		{"all well", func(*analytics.Health) {}, analytics.HealthLimits{}, "clickhouse disk", analytics.CheckOK, "(50%)"},
		{"disk low", func(h *analytics.Health) { h.Disks[0].Free = 10 }, analytics.HealthLimits{}, "clickhouse disk", analytics.CheckFail, "below 15%"},
		{"disk warn", func(h *analytics.Health) { h.Disks[0].Free = 25 }, analytics.HealthLimits{}, "clickhouse disk", analytics.CheckWarn, "below 30%"},
		{"disk threshold flag", func(h *analytics.Health) { h.Disks[0].Free = 10 }, analytics.HealthLimits{MinDiskFree: 0.05}, "clickhouse disk", analytics.CheckOK, "10%"},
		{"disk unmeasured", func(h *analytics.Health) { h.Disks, h.DiskNote = nil, "system.disks needs 19.15" }, analytics.HealthLimits{}, "clickhouse disk", analytics.CheckWarn, "not measured"},
		{"parts slow", func(h *analytics.Health) { h.Parts[0].Parts = 160 }, analytics.HealthLimits{}, "clickhouse parts", analytics.CheckWarn, "--batch-rows"},
		{"parts flag", func(h *analytics.Health) { h.Parts[0].Parts = 60 }, analytics.HealthLimits{PartsWarn: 50}, "clickhouse parts", analytics.CheckWarn, "merges lag"},
		{"too many parts", func(h *analytics.Health) { h.Parts[0].Parts = 300 }, analytics.HealthLimits{}, "clickhouse parts", analytics.CheckFail, "Too many parts"},
		{"unknown migration", func(h *analytics.Health) { h.Migrations.Unknown = []uint32{4} }, analytics.HealthLimits{}, "clickhouse migrations", analytics.CheckWarn, "upgrade surge"},
		{"stale with backlog", func(*analytics.Health) {}, analytics.HealthLimits{MaxStaleness: time.Minute, SinkBacklog: 5}, "sink freshness", analytics.CheckWarn, "surge sink"},
		{"stale, nothing waiting", func(*analytics.Health) {}, analytics.HealthLimits{MaxStaleness: time.Minute}, "sink freshness", analytics.CheckOK, "10m0s ago"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := base()
			tt.change(h)
			var got *analytics.HealthCheck
			for _, c := range h.Checks(tt.limits) {
				if c.Name == tt.check {
					got = &c
				}
			}
			if got == nil {
				t.Fatalf("no check %q", tt.check)
			}
			if got.Status != tt.want || !strings.Contains(got.Message+" "+got.Fix, tt.text) {
				t.Errorf("got %s: %s / %s; want %s mentioning %q", got.Status, got.Message, got.Fix, tt.want, tt.text)
			}
		})
	}
}
