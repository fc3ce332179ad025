package analytics

import (
	"context"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Health is what a readiness check needs to know about the server and the
// database: schema version, free disk, parts per partition and how fresh
// the raw tables are. Health reads it without changing anything.
type Health struct {
	Version    string          `json:"version"`
	Migrations MigrationHealth `json:"migrations"`
	// Disks are the server's disks with their free space. Empty when it
	// could not be measured; DiskNote says why.
	Disks    []DiskSpace `json:"disks"`
	DiskNote string      `json:"disk_note,omitempty"`
	// Parts lists the partitions with the most active parts, most first
	// (at most 10).
	Parts []PartitionParts `json:"parts"`
	// PartsToDelayInsert and PartsToThrowInsert are the server's
	// MergeTree settings: past the first, inserts into a partition are
	// slowed down; past the second they fail with "Too many parts".
	PartsToDelayInsert uint64 `json:"parts_to_delay_insert"`
	PartsToThrowInsert uint64 `json:"parts_to_throw_insert"`
	// Freshness has one entry per raw table with rows.
	Freshness []TableFreshness `json:"freshness"`
	// At is when the server said it was (now()), to judge Freshness by.
	At time.Time `json:"at"`
	// Cluster is set when the database is on a cluster; Parts and
	// Freshness then come from every node's local tables.
	Cluster *ClusterHealth `json:"cluster,omitempty"`
}

// MigrationHealth compares the embedded migrations with the database.
type MigrationHealth struct {
	Embedded int      `json:"embedded"`
	Applied  int      `json:"applied"`
	Pending  []string `json:"pending"`
	// Unknown are versions the database has that this build does not:
	// a newer surge migrated it.
	Unknown []uint32 `json:"unknown,omitempty"`
}

// DiskSpace is one disk of the server.
type DiskSpace struct {
	Name  string `json:"name"`
	Path  string `json:"path"`
	Free  uint64 `json:"free_bytes"`
	Total uint64 `json:"total_bytes"`
	// Source is "system.disks" (ClickHouse 19.15 and later) or "statfs"
	// (the data directory of a server on this machine, measured locally).
	Source string `json:"source"`
}

// FreeRatio is Free/Total, or 0 for an empty disk record.
func (d DiskSpace) FreeRatio() float64 {
	if d.Total == 0 {
		return 0
	}
	return float64(d.Free) / float64(d.Total)
}

// PartitionParts is the active part count of one partition of a table.
type PartitionParts struct {
	Table     string `json:"table"`
	Partition string `json:"partition"`
	Parts     uint64 `json:"parts"`
}

// TableFreshness is when the newest row of a raw table was ingested, read
// from the parts' metadata (the ingested_at partition key's min/max), so it
// costs no scan.
type TableFreshness struct {
	Table        string    `json:"table"`
	Rows         uint64    `json:"rows"`
	LatestIngest time.Time `json:"latest_ingest"`
}

// Health reads the server's and the database's health: the migrations
// applied versus embedded, free disk, the partitions with the most active
// parts, the server's part limits and the newest ingested_at per raw table.
// It runs on ClickHouse 18.16 (which has no system.disks: a server on this
// machine has its data directory measured with statfs instead) and current
// releases.
func (c *Conn) Health(ctx context.Context) (*Health, error) {
	h := &Health{Parts: []PartitionParts{}, Freshness: []TableFreshness{}}
	if err := c.db.QueryRow(ctx, "SELECT version(), now()").Scan(&h.Version, &h.At); err != nil {
		return nil, fmt.Errorf("health: server version: %w", err)
	}
	var err error
	if h.Migrations, err = c.migrationHealth(ctx); err != nil {
		return nil, err
	}
	h.Disks, h.DiskNote = c.disks(ctx)
	if err := c.partsHealth(ctx, h); err != nil {
		return nil, err
	}
	if err := c.freshness(ctx, h); err != nil {
		return nil, err
	}
	if err := c.clusterHealth(ctx, h); err != nil {
		return nil, fmt.Errorf("health: %w", err)
	}
	return h, nil
}

// migrationHealth compares schema_migrations, if it exists, with the
// embedded migrations, without creating anything.
func (c *Conn) migrationHealth(ctx context.Context) (MigrationHealth, error) {
	files, err := loadMigrations(migrationFiles)
	if err != nil {
		return MigrationHealth{}, err
	}
	mh := MigrationHealth{Embedded: len(files), Pending: []string{}}
	var n uint64
	if err := c.db.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'schema_migrations'").Scan(&n); err != nil {
		return mh, fmt.Errorf("health: look for schema_migrations: %w", err)
	}
	done := map[uint32]time.Time{}
	if n > 0 {
		if done, err = c.applied(ctx); err != nil {
			return mh, fmt.Errorf("health: %w", err)
		}
	}
	known := map[uint32]bool{}
	for _, m := range files {
		known[m.version] = true
		if _, ok := done[m.version]; ok {
			mh.Applied++
		} else {
			mh.Pending = append(mh.Pending, m.name)
		}
	}
	for v := range done {
		if !known[v] {
			mh.Unknown = append(mh.Unknown, v)
		}
	}
	sort.Slice(mh.Unknown, func(i, j int) bool { return mh.Unknown[i] < mh.Unknown[j] })
	return mh, nil
}

// disks reads system.disks, or, where it does not exist (before 19.15),
// measures the data directory of a server on this machine with statfs.
func (c *Conn) disks(ctx context.Context) ([]DiskSpace, string) {
	var out []DiskSpace
	rows, err := c.db.Query(ctx, "SELECT name, path, free_space, total_space FROM system.disks")
	if err == nil {
		defer rows.Close()
		for rows.Next() {
			d := DiskSpace{Source: "system.disks"}
			if err := rows.Scan(&d.Name, &d.Path, &d.Free, &d.Total); err != nil {
				return nil, fmt.Sprintf("read system.disks: %v", err)
			}
			out = append(out, d)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Sprintf("read system.disks: %v", err)
		}
		return out, ""
	}
	noDisks := "system.disks needs ClickHouse 19.15 or later"
	if !isLoopback(c.addr) {
		return nil, noDisks + ", and the server at " + c.addr + " is not on this machine to measure its disk locally"
	}
	var dataPath string
	err = c.db.QueryRow(ctx, "SELECT data_path FROM system.databases WHERE name = currentDatabase()").Scan(&dataPath)
	if err != nil || dataPath == "" {
		return nil, noDisks + ", and the server does not say where it keeps this database's data"
	}
	if _, err := os.Stat(dataPath); err != nil {
		return nil, noDisks + ", and the server's data path " + dataPath + " is not visible here (a container?)"
	}
	free, total, err := statfs(dataPath)
	if err != nil {
		return nil, fmt.Sprintf("%s, and statfs %s: %v", noDisks, dataPath, err)
	}
	return []DiskSpace{{Name: "default", Path: dataPath, Free: free, Total: total, Source: "statfs"}}, ""
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *Conn) partsHealth(ctx context.Context, h *Health) error {
	rows, err := c.db.Query(ctx, `SELECT name, value FROM system.merge_tree_settings
WHERE name IN ('parts_to_delay_insert', 'parts_to_throw_insert')`)
	if err != nil {
		return fmt.Errorf("health: read merge_tree_settings: %w", err)
	}
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			rows.Close()
			return fmt.Errorf("health: read merge_tree_settings: %w", err)
		}
		v, _ := strconv.ParseUint(value, 10, 64)
		if name == "parts_to_delay_insert" {
			h.PartsToDelayInsert = v
		} else {
			h.PartsToThrowInsert = v
		}
	}
	rows.Close()

	rows, err = c.db.Query(ctx, `SELECT table, partition, count() AS parts
FROM system.parts
WHERE active AND database = currentDatabase()
GROUP BY table, partition
ORDER BY parts DESC, table, partition
LIMIT 10`)
	if err != nil {
		return fmt.Errorf("health: count parts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p PartitionParts
		if err := rows.Scan(&p.Table, &p.Partition, &p.Parts); err != nil {
			return fmt.Errorf("health: count parts: %w", err)
		}
		h.Parts = append(h.Parts, p)
	}
	return rows.Err()
}

// Freshness returns, per raw table holding rows, its row count and the
// newest ingested_at, from the parts' metadata (no scan).
func (c *Conn) Freshness(ctx context.Context) ([]TableFreshness, error) {
	h := &Health{}
	err := c.freshness(ctx, h)
	return h.Freshness, err
}

func (c *Conn) freshness(ctx context.Context, h *Health) error {
	names := make([]string, len(Tables))
	for i, t := range Tables {
		names[i] = "'" + string(t) + "'"
	}
	rows, err := c.db.Query(ctx, `SELECT table, sum(rows), max(max_time)
FROM system.parts
WHERE active AND database = currentDatabase() AND table IN (`+strings.Join(names, ", ")+`)
GROUP BY table
ORDER BY table`)
	if err != nil {
		return fmt.Errorf("health: read freshness: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var f TableFreshness
		if err := rows.Scan(&f.Table, &f.Rows, &f.LatestIngest); err != nil {
			return fmt.Errorf("health: read freshness: %w", err)
		}
		if f.Rows > 0 {
			f.LatestIngest = f.LatestIngest.UTC()
			h.Freshness = append(h.Freshness, f)
		}
	}
	return rows.Err()
}

// Check statuses.
const (
	CheckOK   = "ok"
	CheckWarn = "warn"
	CheckFail = "fail"
)

// HealthCheck is one verdict on a Health: a status, what was found and,
// unless ok, what to do next.
type HealthCheck struct {
	Name    string `json:"name"`
	Status  string `json:"status"` // CheckOK, CheckWarn or CheckFail
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

// HealthLimits are the thresholds Checks judges by.
type HealthLimits struct {
	// MinDiskFree is the lowest free fraction of a disk that passes;
	// below twice it is a warning. Default 0.15.
	MinDiskFree float64
	// PartsWarn warns from this many active parts in one partition;
	// default the server's parts_to_delay_insert. At parts_to_throw_insert
	// the check fails.
	PartsWarn uint64
	// MaxStaleness and SinkBacklog: when records wait for the sink
	// (SinkBacklog > 0) and the newest row is older than MaxStaleness,
	// freshness is a warning. Zero MaxStaleness never warns.
	MaxStaleness time.Duration
	SinkBacklog  int64
}

// Checks judges h: migrations, disk, parts and freshness, in that order.
func (h *Health) Checks(l HealthLimits) []HealthCheck {
	if l.MinDiskFree <= 0 {
		l.MinDiskFree = 0.15
	}
	out := []HealthCheck{h.migrationsCheck(), h.diskCheck(l), h.partsCheck(l), h.freshnessCheck(l)}
	if h.Cluster != nil {
		out = append(out, h.Cluster.checks()...)
	}
	return out
}

func (h *Health) migrationsCheck() HealthCheck {
	m := h.Migrations
	c := HealthCheck{Name: "clickhouse migrations", Status: CheckOK,
		Message: fmt.Sprintf("%d of %d migrations applied", m.Applied, m.Embedded)}
	switch {
	case len(m.Pending) > 0:
		c.Status = CheckFail
		c.Message += "; pending: " + strings.Join(m.Pending, ", ")
		c.Fix = "run `surge migrate` against this database"
	case len(m.Unknown) > 0:
		c.Status = CheckWarn
		c.Message += fmt.Sprintf("; the database also has versions %v this surge does not know", m.Unknown)
		c.Fix = "a newer surge migrated this database: upgrade surge"
	}
	return c
}

func (h *Health) diskCheck(l HealthLimits) HealthCheck {
	c := HealthCheck{Name: "clickhouse disk", Status: CheckOK}
	if len(h.Disks) == 0 {
		c.Status, c.Message = CheckWarn, "free disk not measured: "+h.DiskNote
		c.Fix = "check free space on the server's data disk by hand"
		return c
	}
	var msgs []string
	worst := 1.0
	for _, d := range h.Disks {
		r := d.FreeRatio()
		worst = min(worst, r)
		msgs = append(msgs, fmt.Sprintf("%s (%s): %s free of %s (%.0f%%)", d.Name, d.Path, gib(d.Free), gib(d.Total), 100*r))
	}
	c.Message = strings.Join(msgs, "; ")
	switch {
	case worst < l.MinDiskFree:
		c.Status = CheckFail
		c.Fix = fmt.Sprintf("free space below %.0f%%: add disk or drop old partitions before the peak", 100*l.MinDiskFree)
	case worst < 2*l.MinDiskFree:
		c.Status = CheckWarn
		c.Fix = fmt.Sprintf("free space below %.0f%%: a peak writes fast; add disk or drop old partitions", 200*l.MinDiskFree)
	}
	return c
}

func gib(b uint64) string { return strconv.FormatFloat(float64(b)/(1<<30), 'f', 1, 64) + " GiB" }

func (h *Health) partsCheck(l HealthLimits) HealthCheck {
	warn, throw := l.PartsWarn, h.PartsToThrowInsert
	if warn == 0 {
		warn = h.PartsToDelayInsert
	}
	c := HealthCheck{Name: "clickhouse parts", Status: CheckOK}
	if len(h.Parts) == 0 {
		c.Message = "no active parts yet"
		return c
	}
	top := h.Parts[0]
	c.Message = fmt.Sprintf("at most %d active parts in one partition (%s, partition %s); inserts slow down at %d and fail at %d",
		top.Parts, top.Table, top.Partition, h.PartsToDelayInsert, throw)
	switch {
	case throw > 0 && top.Parts >= throw:
		c.Status = CheckFail
		c.Fix = "inserts into " + top.Table + " fail with Too many parts: let merges catch up (fewer, larger sink batches: --batch-rows, --batch-interval)"
	case warn > 0 && top.Parts >= warn:
		c.Status = CheckWarn
		c.Fix = "merges lag behind inserts: use fewer, larger sink batches (--batch-rows, --batch-interval) before the peak"
	}
	return c
}

func (h *Health) freshnessCheck(l HealthLimits) HealthCheck {
	c := HealthCheck{Name: "sink freshness", Status: CheckOK}
	if len(h.Freshness) == 0 {
		c.Message = "no rows in the raw tables yet"
		return c
	}
	var newest time.Time
	var msgs []string
	for _, f := range h.Freshness {
		if f.LatestIngest.After(newest) {
			newest = f.LatestIngest
		}
		msgs = append(msgs, fmt.Sprintf("%s %d rows", f.Table, f.Rows))
	}
	age := max(0, h.At.Sub(newest)).Round(time.Second)
	c.Message = fmt.Sprintf("newest row ingested %s ago (%s)", age, strings.Join(msgs, ", "))
	if l.MaxStaleness > 0 && l.SinkBacklog > 0 && age > l.MaxStaleness {
		c.Status = CheckWarn
		c.Message += fmt.Sprintf("; %d records wait for the sink", l.SinkBacklog)
		c.Fix = "the sink is not writing: check that `surge sink` runs and can reach ClickHouse"
	}
	return c
}
