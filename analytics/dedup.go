package analytics

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// The sink's de-duplication tables (migrations 004_sink_dedup,
// 009_sink_claims, 010_sink_dedup_claims).
const (
	// TableClaims holds one claim per stored event: the record that is the
	// original of its event within its dedup scope, the event named by two
	// 64-bit hashes, its topic and scope by one number (ScopeKey).
	TableClaims Table = "sink_dedup_claims"
	// TableDuplicates holds one row per dropped copy of an event, with
	// where the copy and its original were.
	TableDuplicates Table = "sink_duplicates"
	// tableClaimsByName held the claims from migration 009 to 010, with the
	// topic's name in every row, and tableEventIDs before it, with the
	// event_id string instead of a second hash. Nothing is written to them
	// any more; their claims are read until they leave the window, and
	// their old days dropped like TableClaims'.
	tableClaimsByName Table = "sink_claims"
	tableEventIDs     Table = "sink_event_ids"
)

// claimTables are the tables claims are read from: the current one first,
// then the retired ones, which nothing writes to and whose marks are not
// read (readPositions).
var claimTables = []Table{TableClaims, tableClaimsByName, tableEventIDs}

// retiredClaimTables are claimTables but the current one.
var retiredClaimTables = claimTables[1:]

// retiredClaimColumns is what each retired claims table gives for a
// claim's scope, hashes and event_id (only sink_event_ids kept the id, and
// no second hash: it is computed from the id).
var retiredClaimColumns = map[Table]string{
	tableClaimsByName: "scope, event_hash, event_hash2, '' AS event_id",
	tableEventIDs:     "scope, event_hash, toUInt64(0), event_id",
}

// shardKeyColumn is the column a cluster's sink_dedup_claims is sharded
// by: cityHash64(topic, partition), the shard of the partition's rows.
const shardKeyColumn = "shard_key"

// TopicID is the 32-bit number that stands for topic in sink_dedup_claims:
// FNV-1a of its name. Two topics of one id would share their claims' key
// ranges; CheckTopicIDs refuses them.
func TopicID(topic string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(topic); i++ {
		h = (h ^ uint32(topic[i])) * 16777619
	}
	return h
}

// topicBase is the lowest scope_key of topic: its id in the high 32 bits.
func topicBase(topic string) uint64 { return uint64(TopicID(topic)) << 32 }

// ScopeKey is the scope_key of a claim of topic in scope: the topic's id in
// the high 32 bits, the scope in the low ones.
func ScopeKey(topic string, scope uint32) uint64 { return topicBase(topic) | uint64(scope) }

// CheckTopicIDs returns an error naming two of topics that have the same
// TopicID: their claims could not be told apart.
func CheckTopicIDs(topics []string) error { return topicIDClash(topics, topics, "") }

// CheckTopicIDsWith returns an error naming a topic of ours and another
// topic this database holds sink marks of (any sink, any group) that have
// the same TopicID: their claims would share sink_dedup_claims' key ranges.
// It reads sink_offsets, a few rows per topic partition and table.
func (c *Conn) CheckTopicIDsWith(ctx context.Context, ours []string) error {
	rows, err := c.db.Query(ctx, "SELECT DISTINCT kafka_topic FROM "+TableSinkOffsets)
	if err != nil {
		return fmt.Errorf("list the topics of %s: %w", TableSinkOffsets, err)
	}
	defer rows.Close()
	var theirs []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return fmt.Errorf("list the topics of %s: %w", TableSinkOffsets, err)
		}
		theirs = append(theirs, t)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list the topics of %s: %w", TableSinkOffsets, err)
	}
	return topicIDClash(ours, theirs, " (its sink marks are in this database)")
}

// topicIDClash returns an error naming a topic of ours and a different one
// of others with the same TopicID; where says where the other was found.
func topicIDClash(ours, others []string, where string) error {
	mine := make(map[uint32]string, len(ours))
	for _, t := range ours {
		mine[TopicID(t)] = t
	}
	for _, t := range others {
		if o, ok := mine[TopicID(t)]; ok && o != t {
			return fmt.Errorf("topics %q and %q%s have the same dedup topic id %d: rename one of them or give them separate databases",
				o, t, where, TopicID(t))
		}
	}
	return nil
}

// topicRange is the condition on scope_key that selects topic's claims:
// its id's range of the key, so the read goes through the ORDER BY key.
func topicRange(topic string) string {
	lo := topicBase(topic)
	return fmt.Sprintf("scope_key >= %d AND scope_key <= %d", lo, lo|0xffffffff)
}

// Claim is one stored claim: Src is the original record of the event with
// hashes Hash and Hash2 in Scope. A claim read from the table that held the
// claims before sink_claims has Hash2 0 and EventID set instead.
type Claim struct {
	Scope   uint32
	Hash    uint64
	Hash2   uint64
	EventID string
	Src     Source
}

type claimCols struct {
	scopeKey []uint64
	hash     []uint64
	hash2    []uint64
	provenance
	// The last topic added and its id: a batch's claims come topic by
	// topic, so its name is hashed once a run.
	lastTopic string
	lastID    uint64
}

type dupCols struct {
	eventID, kind, origTopic []string
	origPartition            []int32
	origOffset               []int64
	provenance
}

// AddClaim buffers one sink_dedup_claims row: the record at src is the original
// of the event whose hashes are hash and hash2 in scope.
func (b *Batch) AddClaim(src Source, scope uint32, hash, hash2 uint64) {
	c := &b.claims
	if src.Topic != c.lastTopic || len(c.scopeKey) == 0 {
		c.lastTopic, c.lastID = src.Topic, topicBase(src.Topic)
	}
	c.scopeKey = append(c.scopeKey, c.lastID|uint64(scope))
	c.hash = append(c.hash, hash)
	c.hash2 = append(c.hash2, hash2)
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
	c.scopeKey, c.hash, c.hash2 = c.scopeKey[:0], c.hash[:0], c.hash2[:0]
	c.provenance.reset()
}

func (c *dupCols) reset() {
	c.eventID, c.kind, c.origTopic = c.eventID[:0], c.kind[:0], c.origTopic[:0]
	c.origPartition, c.origOffset = c.origPartition[:0], c.origOffset[:0]
	c.provenance.reset()
}

func (b *Batch) dedupColumns(t Table, ingested []time.Time) []any {
	switch t {
	case TableClaims:
		b.sortClaims()
		c := &b.claims
		return []any{c.scopeKey, c.hash, c.hash2, c.partition, c.offset, ingested}
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
// on and, in them, only the scopes' ranges of the ORDER BY key (scope_key,
// event_hash; (kafka_topic, scope, event_hash) in the older tables): its
// cost is the window's claims of those scopes, not history.
func (c *Conn) LoadEventIDs(ctx context.Context, scopes map[string][]uint32, since time.Time,
	fn func(topic string, scope uint32, hash uint64, at time.Time)) error {
	if len(scopes) == 0 {
		return nil
	}
	var keys, conds []string
	var args []any
	byKey := make(map[uint64]string) // scope_key's topic id -> topic
	for topic, ss := range scopes {
		id := topicBase(topic)
		byKey[id] = topic
		var b strings.Builder
		b.WriteString("(kafka_topic = ? AND scope IN (")
		for i, sc := range ss {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatUint(uint64(sc), 10))
			keys = append(keys, strconv.FormatUint(ScopeKey(topic, sc), 10))
		}
		b.WriteString("))")
		conds = append(conds, b.String())
		args = append(args, topic)
	}
	// One query over the three tables: sink_dedup_claims names the topic
	// and scope by scope_key (its rows have kafka_topic ''), the older
	// ones by name and scope (their rows have scope_key 0).
	q := "SELECT '' AS kafka_topic, toUInt32(0) AS scope, scope_key, event_hash, ingested_at FROM " + string(TableClaims) +
		"%[1]s WHERE ingested_at >= ? AND scope_key IN (" + strings.Join(keys, ",") + ")"
	for _, t := range retiredClaimTables {
		q += " UNION ALL SELECT kafka_topic, scope, toUInt64(0), event_hash, ingested_at FROM " + string(t) +
			"%[1]s WHERE ingested_at >= ? AND (" + strings.Join(conds, " OR ") + ")"
	}
	qargs := []any{dateTime(since)}
	for range retiredClaimTables {
		qargs = append(append(qargs, dateTime(since)), args...)
	}
	// On a cluster, from an in-sync replica of every shard (EachShard): a
	// replica still fetching could miss a claim. fn may see a claim twice
	// when a replica fails half way and another is read; it adds to a set.
	err := c.eachClaimShard(ctx, func(db driver.Conn, suffix string) error {
		rows, err := db.Query(ctx, fmt.Sprintf(q, suffix), qargs...)
		if err != nil {
			return err
		}
		defer rows.Close()
		var (
			topic string
			scope uint32
			key   uint64
			h     uint64
			at    time.Time
		)
		for rows.Next() {
			if err := rows.Scan(&topic, &scope, &key, &h, &at); err != nil {
				return err
			}
			if topic == "" {
				topic, scope = byKey[key&^0xffffffff], uint32(key)
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

// lookupChunk is how many hashes one lookup query names at most: written
// into the query (three times, one per claims table), 2,000 stay well
// within ClickHouse's max_query_size (256 KiB).
const lookupChunk = 2000

// LookupEventIDs returns the claims of topic written at or after since whose
// scope and hash are among keys (scope -> hashes). The lookup goes through
// the ORDER BY key (scope_key, event_hash; (kafka_topic, scope, event_hash)
// in the older tables), lookupChunk hashes per query. On a cluster it reads
// an in-sync replica of every shard, chosen once for all the chunks.
func (c *Conn) LookupEventIDs(ctx context.Context, topic string, keys map[uint32][]uint64, since time.Time) ([]Claim, error) {
	// The conditions, lookupChunk hashes each, on scope_key for the
	// current table and on scope for the older ones. The hashes are
	// numbers: written into the query, they need no parameter binding
	// (which 18.16's native protocol cannot do for IN).
	type chunk struct{ byKey, byScope string }
	var chunks []chunk
	var keyConds, scopeConds []string
	n := 0
	for scope, hashes := range keys {
		for len(hashes) > 0 {
			k := min(len(hashes), lookupChunk-n)
			var b strings.Builder
			for i, h := range hashes[:k] {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(strconv.FormatUint(h, 10))
			}
			in := " AND event_hash IN (" + b.String() + "))"
			keyConds = append(keyConds, "(scope_key = "+strconv.FormatUint(ScopeKey(topic, scope), 10)+in)
			scopeConds = append(scopeConds, "(scope = "+strconv.FormatUint(uint64(scope), 10)+in)
			hashes, n = hashes[k:], n+k
			if n == lookupChunk {
				chunks = append(chunks, chunk{"(" + strings.Join(keyConds, " OR ") + ")", "(" + strings.Join(scopeConds, " OR ") + ")"})
				keyConds, scopeConds, n = keyConds[:0], scopeConds[:0], 0
			}
		}
	}
	if len(keyConds) > 0 {
		chunks = append(chunks, chunk{"(" + strings.Join(keyConds, " OR ") + ")", "(" + strings.Join(scopeConds, " OR ") + ")"})
	}
	if len(chunks) == 0 {
		return nil, nil
	}
	var out []Claim
	err := c.eachClaimShard(ctx, func(db driver.Conn, suffix string) error {
		var shard []Claim // kept only if the whole shard was read
		for _, ch := range chunks {
			var err error
			if shard, err = lookupClaims(ctx, db, suffix, topic, ch.byKey, ch.byScope, since, shard); err != nil {
				return err
			}
		}
		out = append(out, shard...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("look up event ids of %s: %w", topic, err)
	}
	return out, nil
}

// lookupClaims appends to out the claims of topic since since matching
// byKey (sink_dedup_claims) or byScope (the older tables), from db's claims
// tables (with suffix appended to their names).
func lookupClaims(ctx context.Context, db driver.Conn, suffix, topic, byKey, byScope string, since time.Time, out []Claim) ([]Claim, error) {
	q := "SELECT toUInt32(bitAnd(scope_key, 4294967295)), event_hash, event_hash2, '' AS event_id, '' AS kafka_topic, kafka_partition, kafka_offset FROM " +
		string(TableClaims) + suffix + " WHERE ingested_at >= ? AND " + byKey
	args := []any{dateTime(since)}
	for _, t := range retiredClaimTables {
		q += " UNION ALL SELECT " + retiredClaimColumns[t] + ", kafka_topic, kafka_partition, kafka_offset FROM " + string(t) + suffix +
			" WHERE kafka_topic = ? AND ingested_at >= ? AND " + byScope
		args = append(args, topic, dateTime(since))
	}
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	for rows.Next() {
		var cl Claim
		if err := rows.Scan(&cl.Scope, &cl.Hash, &cl.Hash2, &cl.EventID, &cl.Src.Topic, &cl.Src.Partition, &cl.Src.Offset); err != nil {
			return out, err
		}
		if cl.Src.Topic == "" { // sink_dedup_claims: the key's topic is topic
			cl.Src.Topic = topic
		}
		out = append(out, cl)
	}
	return out, rows.Err()
}

// eachClaimShard is EachShard with the in-sync check limited to the claims
// tables, which is all a dedup read needs.
func (c *Conn) eachClaimShard(ctx context.Context, fn func(db driver.Conn, suffix string) error) error {
	cluster, err := c.Cluster(ctx)
	if err != nil {
		return err
	}
	if cluster == "" {
		return fn(c.db, "")
	}
	return c.eachShardOf(ctx, cluster, claimTables, fn)
}

// DropEventIDsBefore drops the day partitions of the claims tables
// (sink_dedup_claims, and sink_claims and sink_event_ids before it) whose
// day ends before t, and returns how many it dropped. Claims are only read within the dedup
// window, so older days are dead weight.
func (c *Conn) DropEventIDsBefore(ctx context.Context, t time.Time) (int, error) {
	dropped := 0
	for _, table := range claimTables {
		n, err := c.dropClaimDaysBefore(ctx, table, t)
		dropped += n
		if err != nil {
			return dropped, err
		}
	}
	return dropped, nil
}

func (c *Conn) dropClaimDaysBefore(ctx context.Context, table Table, t time.Time) (int, error) {
	cluster, err := c.Cluster(ctx)
	if err != nil {
		return 0, err
	}
	if cluster == "" {
		return dropDaysBefore(ctx, c.db, c.database, string(table), t)
	}
	// On a cluster the partitions live in the local tables: drop them on
	// one replica per shard that answers, and replication drops them on
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
		k, err := dropDaysBefore(ctx, db, c.database, string(table)+LocalSuffix, t)
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
				table, n.Shard, err)
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
