package analytics

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// TableSinkOffsets holds the sink's write-ahead marks (migration 005): per
// (topic, raw table, partition), what the table holds of the partition and,
// while an INSERT may be landing, what it may be about to hold. Reading it
// costs the same at a thousand rows of history as at billions.
const TableSinkOffsets = "sink_offsets"

// Range is what a batch writes of one Kafka partition into one table: rows
// up to offset Hi.
type Range struct {
	Table     Table
	Topic     string
	Partition int32
	Hi        int64 // highest kafka_offset of the rows
	// Probe is a condition on the leading ORDER BY columns of the table
	// that the row at Hi satisfies ("" where kafka_topic, kafka_partition
	// and kafka_offset lead the key): with it, finding that row reads a few
	// granules however large the part holding it.
	Probe string
}

// Ranges lists, for every table with rows in the batch (in the order of
// Tables) and every Kafka partition, the highest offset the batch writes.
func (b *Batch) Ranges() []Range {
	var out []Range
	for _, t := range Tables {
		p := b.prov(t)
		if p == nil || len(p.offset) == 0 {
			continue
		}
		// Rows come partition by partition: the map is touched once a run,
		// with the run's highest row.
		at := make(map[topicPart]int) // row of the highest offset
		partitionRuns(p, func(k topicPart, from, to int) {
			hi := from
			for i := from + 1; i < to; i++ {
				if p.offset[i] > p.offset[hi] {
					hi = i
				}
			}
			if j, ok := at[k]; !ok || p.offset[hi] > p.offset[j] {
				at[k] = hi
			}
		})
		start := len(out)
		for k, i := range at {
			out = append(out, Range{Table: t, Topic: k.topic, Partition: k.part, Hi: p.offset[i], Probe: b.probe(t, i)})
		}
		tail := out[start:]
		sort.Slice(tail, func(i, j int) bool {
			if tail[i].Topic != tail[j].Topic {
				return tail[i].Topic < tail[j].Topic
			}
			return tail[i].Partition < tail[j].Partition
		})
	}
	return out
}

// Mark is one row of sink_offsets. An intent (Done false) is written before
// an INSERT into Table: the table holds offsets up to Prev of the partition,
// and the INSERT, stamped IngestedAt, may add rows up to Hi. A done mark is
// written once the table is known to hold exactly the offsets up to Hi. Of a
// key's marks, the one with the highest Seq is its state.
type Mark struct {
	Table      Table
	Topic      string
	Partition  int32
	Seq        uint64
	Done       bool
	Prev, Hi   int64
	IngestedAt time.Time
	Probe      string // Range.Probe of the row at Hi
}

// Position is what a raw table holds of one Kafka partition: every offset up
// to Offset (-1: none), as of the mark numbered Seq.
type Position struct {
	Offset int64
	Seq    uint64
}

// WriteMarks inserts marks into sink_offsets in one INSERT. Under a context
// from WithQueryIDPrefix its query id is the prefix followed by
// "sink_offsets". On a ClickHouse cluster it writes, like Write, through
// the Distributed table with ClusterSettings: sink_offsets is sharded by
// topic and partition like the raw tables, so a partition's marks live on
// the shard that holds its rows. On a cluster whose marks are not
// backfilled yet (migration 008 not applied) it writes nothing and
// Positions scans the raw tables.
func (c *Conn) WriteMarks(ctx context.Context, marks []Mark) error {
	if len(marks) == 0 {
		return nil
	}
	if ready, err := c.marksReady(ctx); err != nil || !ready {
		if err != nil {
			return fmt.Errorf("write %d sink marks: %w", len(marks), err)
		}
		return nil
	}
	ctx, err := c.insertContext(ctx)
	if err != nil {
		return fmt.Errorf("write %d sink marks: %w", len(marks), err)
	}
	if prefix, ok := ctx.Value(queryIDKey{}).(string); ok {
		ctx = clickhouse.Context(ctx, clickhouse.WithQueryID(prefix+TableSinkOffsets))
	}
	n := len(marks)
	var (
		topic, tbl = make([]string, n), make([]string, n)
		part       = make([]int32, n)
		seq        = make([]uint64, n)
		done       = make([]uint8, n)
		prev, hi   = make([]int64, n), make([]int64, n)
		at         = make([]time.Time, n)
		probe      = make([]string, n)
	)
	for i, m := range marks {
		topic[i], tbl[i], part[i], seq[i] = m.Topic, string(m.Table), m.Partition, m.Seq
		if m.Done {
			done[i] = 1
		}
		prev[i], hi[i], at[i], probe[i] = m.Prev, m.Hi, dateTime(m.IngestedAt), m.Probe
	}
	batch, err := c.db.PrepareBatch(ctx, "INSERT INTO "+TableSinkOffsets+
		" (kafka_topic, tbl, kafka_partition, seq, done, prev, hi, ingested_at, probe)")
	if err != nil {
		return fmt.Errorf("write %d sink marks: %w", n, err)
	}
	defer batch.Close()
	if err := beforeInsert(ctx, TableSinkOffsets); err != nil {
		_ = batch.Abort()
		return err
	}
	for i, col := range []any{topic, tbl, part, seq, done, prev, hi, at, probe} {
		if err := batch.Column(i).Append(col); err != nil {
			return fmt.Errorf("write %d sink marks: column %d: %w", n, i, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("write %d sink marks: %w", n, err)
	}
	return nil
}

// Positions returns, for each raw table, what it holds of each partition of
// topic, read from the write-ahead marks: a table or partition with no mark
// holds nothing of it. A key whose last mark is an intent is settled by one
// probe of its raw table for the intent's last row, found through the
// table's leading ORDER BY columns (Range.Probe) and its ingested_at: one
// table's INSERT is atomic, so that row is there if and only if all of the
// intent's rows are.
//
// The answer is exact only while no INSERT of these partitions is running:
// the sink waits for its group's INSERTs to end before calling it. Unlike
// Watermarks, its cost does not grow with the history the tables hold.
//
// On a ClickHouse cluster it reads each shard's marks from a replica that
// holds every part committed on the shard, of sink_offsets and of every raw
// table (see EachShard), and probes an open intent on that same replica:
// a partition's marks and rows live on one shard, so what that replica
// holds is all that was ever committed of them. Where the marks are not
// backfilled yet (migration 008 not applied) it returns Watermarks with Seq
// 0.
func (c *Conn) Positions(ctx context.Context, topic string) (map[Table]map[int32]Position, error) {
	cluster, err := c.Cluster(ctx)
	if err != nil {
		return nil, fmt.Errorf("read sink marks of %s: %w", topic, err)
	}
	if cluster == "" {
		out := map[Table]map[int32]Position{}
		if err := readPositions(ctx, c.db, "", topic, out, nil); err != nil {
			return nil, err
		}
		return out, nil
	}
	return c.clusterPositions(ctx, cluster, topic)
}

// readPositions reads the marks of topic from db's sink_offsets (with
// suffix appended to the table names), settles open intents by probing
// db's raw tables, and sets each key's position in out unless out holds
// one with a higher Seq.
//
// Before probing, it passes the tables it is about to probe to ready (when
// not nil), whose error it returns.
func readPositions(ctx context.Context, db driver.Conn, suffix, topic string, out map[Table]map[int32]Position,
	ready func([]Table) error) error {
	rows, err := db.Query(ctx, `SELECT tbl, kafka_partition, max(seq) AS s,
       argMax(done, seq), argMax(prev, seq), argMax(hi, seq), toUInt32(argMax(ingested_at, seq)), argMax(probe, seq)
FROM `+TableSinkOffsets+suffix+` WHERE kafka_topic = ? GROUP BY tbl, kafka_partition`, topic)
	if err != nil {
		return fmt.Errorf("read sink marks of %s: %w", topic, err)
	}
	defer rows.Close()
	found := map[Table]map[int32]Position{}
	var unsettled []pending
	for rows.Next() {
		var (
			tbl      string
			part     int32
			seq      uint64
			done     uint8
			prev, hi int64
			at       uint32
			probe    string
		)
		if err := rows.Scan(&tbl, &part, &seq, &done, &prev, &hi, &at, &probe); err != nil {
			return fmt.Errorf("read sink marks of %s: %w", topic, err)
		}
		if slices.Contains(retiredClaimTables, Table(tbl)) {
			// Claims are no longer written there: they are read as they
			// are, never through a watermark.
			continue
		}
		if done == 1 {
			setPosition(found, Table(tbl), part, Position{Offset: hi, Seq: seq})
			continue
		}
		unsettled = append(unsettled, pending{Table(tbl), part, seq, prev, hi, at, probe})
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read sink marks of %s: %w", topic, err)
	}
	rows.Close()
	var probed []Table
	for _, u := range unsettled {
		if !knownTable(u.table) {
			return fmt.Errorf("read sink marks of %s: unknown table %q", topic, u.table)
		}
		if !slices.Contains(probed, u.table) {
			probed = append(probed, u.table)
		}
	}
	if ready != nil && len(probed) > 0 {
		if err := ready(probed); err != nil {
			return err
		}
	}
	// The INSERT of one table is atomic: its last row is there if and
	// only if all of them are. One query per table (and per probeBatch
	// intents) looks for the last rows of all of its open intents.
	for _, t := range probed {
		var batch []pending
		for _, u := range unsettled {
			if u.table != t {
				continue
			}
			batch = append(batch, u)
			if len(batch) == probeBatch {
				if err := probeLanded(ctx, db, suffix, topic, batch, found); err != nil {
					return err
				}
				batch = batch[:0]
			}
		}
		if err := probeLanded(ctx, db, suffix, topic, batch, found); err != nil {
			return err
		}
	}
	mergePositions(out, found)
	return nil
}

// mergePositions copies into out the positions of from that are newer
// (higher Seq) than out's for the same table and partition.
func mergePositions(out, from map[Table]map[int32]Position) {
	for t, parts := range from {
		for p, pos := range parts {
			if old, ok := out[t][p]; !ok || pos.Seq > old.Seq {
				setPosition(out, t, p, pos)
			}
		}
	}
}

// pending is a key whose last mark is an intent.
type pending struct {
	table    Table
	part     int32
	seq      uint64
	prev, hi int64
	at       uint32 // ingested_at
	probe    string
}

// probeBatch is the most intents one probe query looks for.
const probeBatch = 100

// probeLanded looks in db's raw table (all of batch's intents are of one
// table) for the last row of each intent, through its ORDER BY prefix,
// ingested_at, partition and offset, and sets each key's position in
// found: hi when the row is there, prev otherwise.
func probeLanded(ctx context.Context, db driver.Conn, suffix, topic string, batch []pending, found map[Table]map[int32]Position) error {
	if len(batch) == 0 {
		return nil
	}
	conds := make([]string, len(batch))
	for i, u := range batch {
		c := fmt.Sprintf("ingested_at = toDateTime(%d) AND kafka_partition = %d AND kafka_offset = %d", u.at, u.part, u.hi)
		if u.probe != "" {
			c = "(" + u.probe + ") AND " + c
		}
		conds[i] = "(" + c + ")"
	}
	t := batch[0].table
	rows, err := db.Query(ctx, "SELECT DISTINCT kafka_partition FROM "+string(t)+suffix+
		" WHERE "+topicCond(t, topic)+" AND ("+strings.Join(conds, " OR ")+")")
	if err != nil {
		return fmt.Errorf("settle the last writes of %s into %s: %w", topic, t, err)
	}
	defer rows.Close()
	landed := make(map[int32]bool)
	for rows.Next() {
		var p int32
		if err := rows.Scan(&p); err != nil {
			return fmt.Errorf("settle the last writes of %s into %s: %w", topic, t, err)
		}
		landed[p] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("settle the last writes of %s into %s: %w", topic, t, err)
	}
	for _, u := range batch {
		pos := Position{Offset: u.prev, Seq: u.seq}
		if landed[u.part] {
			pos.Offset = u.hi
		}
		setPosition(found, u.table, u.part, pos)
	}
	return nil
}

func setPosition(out map[Table]map[int32]Position, t Table, part int32, p Position) {
	if p.Offset < 0 && p.Seq == 0 {
		return
	}
	m := out[t]
	if m == nil {
		m = map[int32]Position{}
		out[t] = m
	}
	m[part] = p
}

// probe returns the Range.Probe of row i of table t.
func (b *Batch) probe(t Table, i int) string {
	switch t {
	case TableOrders:
		o := &b.orders
		return "campaign_id = " + quote(o.campaignID[i]) + " AND created_at = " + sqlTime(o.createdAt[i])
	case TableOrderStatus:
		s := &b.statuses
		return "status = " + quote(s.status[i]) + " AND ts = " + sqlTime(s.ts[i])
	case TableUserEvents:
		e := &b.events
		return "campaign_id = " + quote(e.campaignID[i]) + " AND type = " + quote(e.typ[i]) + " AND ts = " + sqlTime(e.ts[i])
	case TableCoupons:
		c := &b.coupons
		return "campaign_id = " + quote(c.campaignID[i]) + " AND rule_id = " + quote(c.ruleID[i]) +
			" AND issued_at = " + sqlTime(c.issuedAt[i])
	case TableClaims:
		c := &b.claims
		return fmt.Sprintf("scope_key = %d AND event_hash = %d", c.scopeKey[i], c.hash[i])
	}
	// sink_rejects, sink_duplicates: ordered by kafka_topic, kafka_partition,
	// kafka_offset already.
	return ""
}

// quote renders s as a ClickHouse string literal.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func sqlTime(t time.Time) string { return fmt.Sprintf("toDateTime(%d)", t.Unix()) }

func knownTable(t Table) bool {
	for _, k := range Tables {
		if k == t {
			return true
		}
	}
	return false
}
