package analytics

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// The sink's de-duplication tables (migration 004_sink_dedup).
const (
	// TableEventIDs holds one claim per stored event: the record that is
	// the original of its event_id within its dedup scope.
	TableEventIDs Table = "sink_event_ids"
	// TableDuplicates holds one row per dropped copy of an event, with
	// where the copy and its original were.
	TableDuplicates Table = "sink_duplicates"
)

// Claim is one row of sink_event_ids: Src is the original record of
// EventID in its scope.
type Claim struct {
	Scope   uint32
	Hash    uint64
	EventID string
	Src     Source
}

type claimCols struct {
	scope   []uint32
	hash    []uint64
	eventID []string
	provenance
}

type dupCols struct {
	eventID, kind, origTopic []string
	origPartition            []int32
	origOffset               []int64
	provenance
}

// AddClaim buffers one sink_event_ids row: the record at src is the
// original of eventID (whose 64-bit hash is hash) in scope.
func (b *Batch) AddClaim(src Source, scope uint32, hash uint64, eventID string) {
	c := &b.claims
	c.scope = append(c.scope, scope)
	c.hash = append(c.hash, hash)
	c.eventID = append(c.eventID, eventID)
	c.add(src)
}

// AddDuplicate buffers one sink_duplicates row: the record at src is a
// copy of the event eventID of the given kind stored from original.
func (b *Batch) AddDuplicate(src Source, kind, eventID string, original Source) {
	c := &b.dups
	c.eventID = append(c.eventID, eventID)
	c.kind = append(c.kind, kind)
	c.origTopic = append(c.origTopic, original.Topic)
	c.origPartition = append(c.origPartition, original.Partition)
	c.origOffset = append(c.origOffset, original.Offset)
	c.add(src)
}

func (c *claimCols) reset() {
	c.scope, c.hash, c.eventID = c.scope[:0], c.hash[:0], c.eventID[:0]
	c.provenance.reset()
}

func (c *dupCols) reset() {
	c.eventID, c.kind, c.origTopic = c.eventID[:0], c.kind[:0], c.origTopic[:0]
	c.origPartition, c.origOffset = c.origPartition[:0], c.origOffset[:0]
	c.provenance.reset()
}

func (b *Batch) dedupColumns(t Table, ingested []time.Time) []any {
	switch t {
	case TableEventIDs:
		c := &b.claims
		return []any{c.scope, c.hash, c.eventID, c.topic, c.partition, c.offset, ingested}
	case TableDuplicates:
		d := &b.dups
		return []any{d.eventID, d.kind, d.origTopic, d.origPartition, d.origOffset,
			d.topic, d.partition, d.offset, ingested}
	}
	return nil
}

// LoadEventIDs calls fn with the topic, scope, hash and ingestion time of
// every claim written at or after since in the given scopes (topic ->
// scopes), in one query (per shard). It reads the day partitions from since
// on and, in them, only the scopes' ranges of the ORDER BY key
// (kafka_topic, scope, event_hash): its cost is the window's claims of those
// scopes, not history.
func (c *Conn) LoadEventIDs(ctx context.Context, scopes map[string][]uint32, since time.Time,
	fn func(topic string, scope uint32, hash uint64, at time.Time)) error {
	if len(scopes) == 0 {
		return nil
	}
	var conds []string
	args := []any{dateTime(since)}
	for topic, ss := range scopes {
		var b strings.Builder
		b.WriteString("(kafka_topic = ? AND scope IN (")
		for i, sc := range ss {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatUint(uint64(sc), 10))
		}
		b.WriteString("))")
		conds = append(conds, b.String())
		args = append(args, topic)
	}
	// On a cluster, from an in-sync replica of every shard (EachShard): a
	// replica still fetching could miss a claim. fn may see a claim twice
	// when a replica fails half way and another is read; it adds to a set.
	err := c.EachShard(ctx, func(db driver.Conn, suffix string) error {
		rows, err := db.Query(ctx, "SELECT kafka_topic, scope, event_hash, ingested_at FROM "+string(TableEventIDs)+suffix+
			" WHERE ingested_at >= ? AND ("+strings.Join(conds, " OR ")+")", args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		var (
			topic string
			scope uint32
			h     uint64
			at    time.Time
		)
		for rows.Next() {
			if err := rows.Scan(&topic, &scope, &h, &at); err != nil {
				return err
			}
			fn(topic, scope, h, at)
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("load event ids: %w", err)
	}
	return nil
}

// LookupEventIDs returns the claims of topic written at or after since whose
// scope and hash are among keys (scope -> hashes). The lookup goes through
// the ORDER BY key (kafka_topic, scope, event_hash). On a cluster it reads
// an in-sync replica of every shard (EachShard).
func (c *Conn) LookupEventIDs(ctx context.Context, topic string, keys map[uint32][]uint64, since time.Time) ([]Claim, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	// The hashes are numbers: written into the query, they need no
	// parameter binding (which 18.16's native protocol cannot do for IN).
	var conds []string
	args := []any{topic, dateTime(since)}
	for scope, hashes := range keys {
		var b strings.Builder
		b.WriteString("(scope = ")
		b.WriteString(strconv.FormatUint(uint64(scope), 10))
		b.WriteString(" AND event_hash IN (")
		for i, h := range hashes {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatUint(h, 10))
		}
		b.WriteString("))")
		conds = append(conds, b.String())
	}
	var out []Claim
	err := c.EachShard(ctx, func(db driver.Conn, suffix string) error {
		rows, err := db.Query(ctx, "SELECT scope, event_hash, event_id, kafka_topic, kafka_partition, kafka_offset FROM "+
			string(TableEventIDs)+suffix+" WHERE kafka_topic = ? AND ingested_at >= ? AND ("+strings.Join(conds, " OR ")+")", args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		var shard []Claim // kept only if the whole shard was read
		for rows.Next() {
			var cl Claim
			if err := rows.Scan(&cl.Scope, &cl.Hash, &cl.EventID, &cl.Src.Topic, &cl.Src.Partition, &cl.Src.Offset); err != nil {
				return err
			}
			shard = append(shard, cl)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		out = append(out, shard...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("look up event ids of %s: %w", topic, err)
	}
	return out, nil
}

// DropEventIDsBefore drops the day partitions of sink_event_ids whose day
// ends before t, and returns how many it dropped. Claims are only read
// within the dedup window, so older days are dead weight.
func (c *Conn) DropEventIDsBefore(ctx context.Context, t time.Time) (int, error) {
	cluster, err := c.Cluster(ctx)
	if err != nil {
		return 0, err
	}
	if cluster == "" {
		return dropDaysBefore(ctx, c.db, c.database, string(TableEventIDs), t)
	}
	// On a cluster the partitions live in sink_event_ids_local: drop them
	// on one replica per shard that answers, and replication drops them on
	// the others (no ON CLUSTER, which would wait for a node that is down).
	nodes, err := c.ClusterNodes(ctx, cluster)
	if err != nil {
		return 0, err
	}
	dropped, done, failed := 0, map[uint32]bool{}, map[uint32]error{}
	for _, n := range nodes {
		if done[n.Shard] {
			continue
		}
		db, err := c.Node(n.Addr)
		if err != nil {
			failed[n.Shard] = fmt.Errorf("node %s: %w", n.Addr, err)
			continue
		}
		k, err := dropDaysBefore(ctx, db, c.database, string(TableEventIDs)+LocalSuffix, t)
		dropped += k
		if err != nil {
			failed[n.Shard] = fmt.Errorf("node %s: %w", n.Addr, err)
			continue
		}
		done[n.Shard] = true
	}
	// A shard no replica could drop on (the ALTER goes to the shard's
	// leader replica, which may be down until its ZooKeeper session ends)
	// is an error, so the caller tries again later.
	for _, n := range nodes {
		if err := failed[n.Shard]; err != nil && !done[n.Shard] {
			return dropped, fmt.Errorf("drop old days of %s on shard %d (try again once its leader replica is up or replaced): %w",
				TableEventIDs, n.Shard, err)
		}
	}
	return dropped, nil
}

// dropDaysBefore drops the day partitions of table on db that end before t.
func dropDaysBefore(ctx context.Context, db driver.Conn, database, table string, t time.Time) (int, error) {
	rows, err := db.Query(ctx, "SELECT DISTINCT partition FROM system.parts WHERE active AND database = ? AND table = ?",
		database, table)
	if err != nil {
		return 0, fmt.Errorf("list partitions of %s: %w", table, err)
	}
	var old []string
	cut := t.UTC().Format("20060102")
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return 0, fmt.Errorf("list partitions of %s: %w", table, err)
		}
		if len(p) == 8 && p < cut {
			old = append(old, p)
		}
	}
	rows.Close()
	for i, p := range old {
		if err := db.Exec(ctx, "ALTER TABLE "+table+" DROP PARTITION "+p); err != nil {
			return i, fmt.Errorf("drop partition %s of %s: %w", p, table, err)
		}
	}
	return len(old), nil
}
