package analytics

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration is one schema change, a file migrations/NNN_name.sql.
type Migration struct {
	Version   uint32    // NNN
	Name      string    // the file name without ".sql", e.g. "001_raw_tables"
	Applied   bool      // recorded in schema_migrations
	AppliedAt time.Time // zero unless Applied
}

type migrationFile struct {
	version     uint32
	name        string
	statements  []string // with {db} still in place
	clusterOnly bool     // a line "-- surge:cluster-only": no statement on one server
}

// clusterOnlyLine marks a migration that applies to clusters only: on one
// server it is recorded with nothing run.
const clusterOnlyLine = "-- surge:cluster-only"

// loadMigrations reads and splits the migration files of fsys, sorted by
// version. Versions must be unique.
func loadMigrations(fsys fs.FS) ([]migrationFile, error) {
	paths, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migrationFile
	seen := map[uint32]string{}
	for _, p := range paths {
		name := strings.TrimSuffix(path.Base(p), ".sql")
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.ParseUint(num, 10, 32)
		if !ok || err != nil || v == 0 {
			return nil, fmt.Errorf("migration %s: name must be NNN_name.sql", p)
		}
		if other, dup := seen[uint32(v)]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, name, v)
		}
		seen[uint32(v)] = name
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", p, err)
		}
		out = append(out, migrationFile{version: uint32(v), name: name, statements: splitStatements(string(body)),
			clusterOnly: hasLine(string(body), clusterOnlyLine)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// splitStatements splits a migration into statements. A statement ends at a
// line whose last non-blank character is ';'. Lines starting with "--" are
// comments and dropped.
func splitStatements(body string) []string {
	var (
		out []string
		cur strings.Builder
	)
	flush := func() {
		if st := strings.TrimSpace(cur.String()); st != "" {
			out = append(out, st)
		}
		cur.Reset()
	}
	for _, line := range strings.Split(body, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") {
			continue
		}
		if strings.HasSuffix(trimmed, ";") {
			cur.WriteString(strings.TrimSuffix(strings.TrimRight(line, " \t\r"), ";"))
			flush()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	flush()
	return out
}

func hasLine(body, line string) bool {
	for _, l := range strings.Split(body, "\n") {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}

// ensureMigrationsTable creates schema_migrations if it is missing.
func (c *Conn) ensureMigrationsTable(ctx context.Context) error {
	err := c.db.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+c.database+`.schema_migrations
(
    version    UInt32,
    name       String,
    applied_at DateTime
)
ENGINE = MergeTree()
ORDER BY version`)
	if err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	return nil
}

// applied returns when each recorded version was applied.
func (c *Conn) applied(ctx context.Context) (map[uint32]time.Time, error) {
	rows, err := c.db.Query(ctx, `SELECT version, min(applied_at) FROM schema_migrations GROUP BY version`)
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	out := map[uint32]time.Time{}
	for rows.Next() {
		var (
			v  uint32
			at time.Time
		)
		if err := rows.Scan(&v, &at); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		out[v] = at.UTC()
	}
	return out, rows.Err()
}

// Migrate applies, in version order, every embedded migration not yet
// recorded in schema_migrations, and returns the names it applied. Running
// it again applies nothing. Every statement is idempotent (IF NOT EXISTS),
// so a migration interrupted half way is simply applied again. WithCluster
// applies the cluster form of the schema instead (see cluster.go).
func (c *Conn) Migrate(ctx context.Context, opts ...MigrateOpt) ([]string, error) {
	var mc migrateConfig
	for _, o := range opts {
		o(&mc)
	}
	if mc.cluster == "" {
		// A database migrated for a cluster gets the cluster form of any
		// migration it lacks (a plain one would create single-server
		// tables on this node only); with nothing pending, no ON CLUSTER
		// statement runs.
		name, pending, err := c.clusterPending(ctx)
		if err != nil {
			return nil, err
		}
		if name != "" && !pending {
			return nil, nil
		}
		mc.cluster = name
	}
	files, err := mc.load()
	if err != nil {
		return nil, err
	}
	if err := c.prepare(ctx, mc); err != nil {
		return nil, err
	}
	done, err := c.applied(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, m := range files {
		if _, ok := done[m.version]; ok {
			continue
		}
		for i, st := range m.statements {
			if err := c.exec(ctx, mc, strings.ReplaceAll(st, "{db}", c.database)); err != nil {
				return names, fmt.Errorf("migration %s, statement %d: %w", m.name, i+1, err)
			}
		}
		if err := c.record(ctx, m); err != nil {
			return names, err
		}
		names = append(names, m.name)
	}
	return names, nil
}

// exec runs one migration statement: on this server, or, for a statement
// rendered to run per shard (eachShardPrefix), on one replica of each shard
// that holds every part committed on it.
func (c *Conn) exec(ctx context.Context, mc migrateConfig, st string) error {
	if !strings.HasPrefix(st, eachShardPrefix) {
		return c.db.Exec(ctx, st)
	}
	// The in-sync check covers the tables the statement reads or writes:
	// a later migration's tables do not exist yet.
	var used []Table
	for _, t := range append(syncTables(), tableEventIDs) {
		if regexp.MustCompile(`\b` + string(t) + LocalSuffix + `\b`).MatchString(st) {
			used = append(used, t)
		}
	}
	if len(used) == 0 {
		used = syncTables()
	}
	return c.eachShardOf(ctx, mc.cluster, used, func(db driver.Conn, _ string) error {
		return db.Exec(ctx, st)
	})
}

func (c *Conn) record(ctx context.Context, m migrationFile) error {
	b, err := c.db.PrepareBatch(ctx, `INSERT INTO schema_migrations (version, name, applied_at)`)
	if err != nil {
		return fmt.Errorf("record migration %s: %w", m.name, err)
	}
	defer b.Close()
	if err := b.Append(m.version, m.name, time.Now()); err != nil {
		return fmt.Errorf("record migration %s: %w", m.name, err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("record migration %s: %w", m.name, err)
	}
	return nil
}

// MigrationStatus lists every embedded migration in version order and
// whether it has been applied.
func (c *Conn) MigrationStatus(ctx context.Context) ([]Migration, error) {
	files, err := loadMigrations(migrationFiles)
	if err != nil {
		return nil, err
	}
	if err := c.ensureMigrationsTable(ctx); err != nil {
		return nil, err
	}
	done, err := c.applied(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Migration, len(files))
	for i, m := range files {
		at, ok := done[m.version]
		out[i] = Migration{Version: m.version, Name: m.name, Applied: ok, AppliedAt: at}
	}
	return out, nil
}

// clusterPending returns the cluster the database is on ("" for one
// server) and, for a cluster, whether an embedded migration is not yet
// recorded.
func (c *Conn) clusterPending(ctx context.Context) (string, bool, error) {
	name, ok, err := c.detectCluster(ctx)
	if err != nil || !ok || name == "" {
		return "", false, err
	}
	var exists uint64
	if err := c.db.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name = 'schema_migrations'",
		c.database).Scan(&exists); err != nil {
		return "", false, fmt.Errorf("look for schema_migrations: %w", err)
	}
	if exists == 0 {
		return name, true, nil
	}
	files, err := loadMigrations(migrationFiles)
	if err != nil {
		return "", false, err
	}
	done, err := c.applied(ctx)
	if err != nil {
		return "", false, err
	}
	for _, m := range files {
		if _, ok := done[m.version]; !ok {
			return name, true, nil
		}
	}
	return name, false, nil
}
