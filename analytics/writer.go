package analytics

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// provenanceColumns end every raw table.
const provenanceColumns = "kafka_topic, kafka_partition, kafka_offset, ingested_at"

// insertColumns is the column list of each raw table's INSERT, in the order
// the column slices are appended.
var insertColumns = map[Table]string{
	TableOrders: "event_id, v, order_id, user_id, amount, currency, campaign_id, priority, coupon_id, " +
		"item_skus, item_qtys, item_prices, created_at, created_at_ms, " + provenanceColumns,
	TableOrderStatus: "event_id, v, order_id, user_id, status, ts, ts_ms, " + provenanceColumns,
	TableUserEvents:  "event_id, v, user_id, session_id, type, sku, campaign_id, ts, ts_ms, " + provenanceColumns,
	TableCoupons: "event_id, v, coupon_id, user_id, campaign_id, rule_id, value, currency, " +
		"issued_at, issued_at_ms, expires_at, trigger_event_id, " + provenanceColumns,
	TableSinkRejects: "reason, raw, " + provenanceColumns,
	TableClaims:      "scope_key, event_hash, event_hash2, kafka_partition, kafka_offset, ingested_at",
	TableDuplicates:  "event_id, kind, original_topic, original_partition, original_offset, " + provenanceColumns,
}

// Write inserts the batch: one INSERT per non-empty table. Each INSERT is a
// single native block with one ingested_at value, so ClickHouse stores it as
// one part of one partition: all of that table's rows land or none do.
//
// The claims (sink_dedup_claims) are sent on a connection of their own, alongside
// the other tables, which go one after the other in the order of Tables:
// the server processes the claims on another core while it takes the rows.
//
// Write returns after the last INSERT. On error it names the table that
// failed; any other table may already hold its rows (a caller that must
// not duplicate rows compares with Watermarks before writing again). The
// batch keeps its rows, though Write sorts the user events and the claims
// in place into their tables' ORDER BY order. A zero ingestedAt means now.
func (c *Conn) Write(ctx context.Context, b *Batch, ingestedAt time.Time) error {
	if ingestedAt.IsZero() {
		ingestedAt = time.Now()
	}
	at := dateTime(ingestedAt)
	var claimsDone chan error
	if n := b.TableLen(TableClaims); n > 0 {
		claimsDone = make(chan error, 1)
		go func() { claimsDone <- c.writeClaims(ctx, b, n, at) }() // waited for below
	}
	var err error
	for _, t := range Tables {
		n := b.TableLen(t)
		if n == 0 || t == TableClaims {
			continue
		}
		if err = c.insert(ctx, t, insertColumns[t], b.columns(t, stamp(&b.ingested, n, at)), &b.native); err != nil {
			err = fmt.Errorf("insert %d rows into %s: %w", n, t, err)
			break
		}
	}
	if claimsDone != nil {
		if cerr := <-claimsDone; err == nil {
			err = cerr
		}
	}
	return err
}

// stamp returns n copies of at, in the scratch slice *buf.
func stamp(buf *[]time.Time, n int, at time.Time) []time.Time {
	if cap(*buf) < n {
		*buf = make([]time.Time, n)
	}
	ing := (*buf)[:n]
	for i := range ing {
		ing[i] = at
	}
	return ing
}

type queryIDKey struct{}

type beforeInsertKey struct{}

// WithBeforeInsert returns a context under which Write and WriteMarks call
// f for each INSERT they send (with the table it is for), after the INSERT
// is registered on the server and before any of its rows is sent; an error
// from f aborts that INSERT and is returned. The sink uses it to confirm
// that it still owns the partitions it writes while its INSERT is already
// visible to a new owner waiting for running INSERTs.
func WithBeforeInsert(ctx context.Context, f func(context.Context, Table) error) context.Context {
	return context.WithValue(ctx, beforeInsertKey{}, f)
}

func beforeInsert(ctx context.Context, t Table) error {
	if f, ok := ctx.Value(beforeInsertKey{}).(func(context.Context, Table) error); ok {
		return f(ctx, t)
	}
	return nil
}

// WithQueryIDPrefix returns a context under which Write tags each INSERT
// with the query id prefix+table, so that a caller can find its INSERTs in
// system.processes (each table's INSERT needs an id of its own: ClickHouse
// refuses an id that is still registered).
func WithQueryIDPrefix(ctx context.Context, prefix string) context.Context {
	return context.WithValue(ctx, queryIDKey{}, prefix)
}

// insert sends one INSERT of the given columns (named by list) into t as a
// single block, encoding them in *scratch where it can (fillNative).
func (c *Conn) insert(ctx context.Context, t Table, list string, cols []any, scratch *[]byte) error {
	ctx, err := c.insertContext(ctx)
	if err != nil {
		return err
	}
	if prefix, ok := ctx.Value(queryIDKey{}).(string); ok {
		ctx = clickhouse.Context(ctx, clickhouse.WithQueryID(prefix+string(t)))
	}
	batch, err := c.db.PrepareBatch(ctx, "INSERT INTO "+string(t)+" ("+list+")")
	if err != nil {
		return err
	}
	defer batch.Close() // a no-op once sent
	// The INSERT is registered on the server now (system.processes): the
	// check runs after that, so whoever waits for running INSERTs sees it.
	if err := beforeInsert(ctx, t); err != nil {
		_ = batch.Abort()
		return err
	}
	native := batch.Columns()
	for i, col := range cols {
		if i < len(native) {
			if ok, err := fillNative(native[i], col, scratch); ok || err != nil {
				if err != nil {
					return err
				}
				continue
			}
		}
		if err := appendColumn(batch.Column(i), col); err != nil {
			return fmt.Errorf("column %d: %w", i, err)
		}
	}
	return batch.Send()
}

// arrayColumn is a column of arrays stored flat: row i is
// values[end[i-1]:end[i]].
type arrayColumn[T any] struct {
	values []T
	end    []int
}

// appendColumn appends a whole column slice, or an arrayColumn row by row.
func appendColumn(col driver.BatchColumn, v any) error {
	switch a := v.(type) {
	case arrayColumn[string]:
		return appendArrays(col, a)
	case arrayColumn[int64]:
		return appendArrays(col, a)
	}
	return col.Append(v)
}

func appendArrays[T any](col driver.BatchColumn, a arrayColumn[T]) error {
	start := 0
	for _, end := range a.end {
		if err := col.AppendRow(a.values[start:end:end]); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// columns returns table t's column slices in insertColumns order.
func (b *Batch) columns(t Table, ingested []time.Time) []any {
	switch t {
	case TableOrders:
		o := &b.orders
		return []any{o.eventID, o.v, o.orderID, o.userID, o.amount, o.currency, o.campaignID, o.priority,
			o.couponID, arrayColumn[string]{o.skus, o.itemEnd}, arrayColumn[int64]{o.qtys, o.itemEnd},
			arrayColumn[int64]{o.prices, o.itemEnd}, o.createdAt, o.createdMs,
			o.topic, o.partition, o.offset, ingested}
	case TableOrderStatus:
		s := &b.statuses
		return []any{s.eventID, s.v, s.orderID, s.userID, s.status, s.ts, s.tsMs,
			s.topic, s.partition, s.offset, ingested}
	case TableUserEvents:
		b.sortEvents()
		e := &b.events
		return []any{e.eventID, e.v, e.userID, e.sessionID, e.typ, e.sku, e.campaignID, e.ts, e.tsMs,
			e.topic, e.partition, e.offset, ingested}
	case TableCoupons:
		c := &b.coupons
		return []any{c.eventID, c.v, c.couponID, c.userID, c.campaignID, c.ruleID, c.value, c.currency,
			c.issuedAt, c.issuedMs, c.expiresAt, c.triggerID,
			c.topic, c.partition, c.offset, ingested}
	case TableSinkRejects:
		r := &b.rejects
		return []any{r.reason, r.raw, r.topic, r.partition, r.offset, ingested}
	}
	return b.dedupColumns(t, ingested)
}

// Watermarks returns, for each raw table, the highest kafka_offset stored
// per partition for rows from topic. A table with no row from a partition
// has no entry for it; a table with no row from topic at all is absent.
// On a cluster it reads every shard from a replica that holds every part
// committed on that shard (see clusterWatermarks).
func (c *Conn) Watermarks(ctx context.Context, topic string) (map[Table]map[int32]int64, error) {
	cluster, err := c.Cluster(ctx)
	if err != nil {
		return nil, fmt.Errorf("read watermarks of %s: %w", topic, err)
	}
	if cluster != "" {
		return c.clusterWatermarks(ctx, cluster, topic)
	}
	out := map[Table]map[int32]int64{}
	return out, readWatermarks(ctx, c.db, "", topic, out)
}

// readWatermarks reads the watermarks of topic from db's raw tables (with
// suffix appended to their names) into out, keeping the higher offset
// where out already has one.
func readWatermarks(ctx context.Context, db driver.Conn, suffix, topic string, out map[Table]map[int32]int64) error {
	parts := make([]string, len(Tables))
	for i, t := range Tables {
		parts[i] = "SELECT '" + string(t) + "' AS tbl, kafka_partition, max(kafka_offset) AS hi FROM " +
			string(t) + suffix + " WHERE " + topicCond(t, topic) + " GROUP BY kafka_partition"
	}
	rows, err := db.Query(ctx, strings.Join(parts, "\nUNION ALL\n"))
	if err != nil {
		return fmt.Errorf("read watermarks of %s: %w", topic, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			tbl  string
			part int32
			hi   int64
		)
		if err := rows.Scan(&tbl, &part, &hi); err != nil {
			return fmt.Errorf("read watermarks of %s: %w", topic, err)
		}
		m := out[Table(tbl)]
		if m == nil {
			m = map[int32]int64{}
			out[Table(tbl)] = m
		}
		if old, ok := m[part]; !ok || hi > old {
			m[part] = hi
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read watermarks of %s: %w", topic, err)
	}
	return nil
}

// topicCond is the condition selecting topic's rows of raw table t: on
// kafka_topic, or on the topic's range of scope_key for sink_dedup_claims,
// which has no name.
func topicCond(t Table, topic string) string {
	if t == TableClaims {
		return topicRange(topic)
	}
	return "kafka_topic = " + quote(topic)
}

// writeClaims sends the batch's n claims, with their shard key on a
// cluster.
func (c *Conn) writeClaims(ctx context.Context, b *Batch, n int, at time.Time) error {
	cols := b.dedupColumns(TableClaims, stamp(&b.claimsIngested, n, at))
	list := insertColumns[TableClaims]
	cluster, err := c.Cluster(ctx)
	if err == nil && cluster != "" {
		var keys []uint64
		if keys, err = c.shardKeys(ctx, &b.claims.provenance, &b.claimsShard); err == nil {
			cols, list = append(cols, keys), list+", "+shardKeyColumn
		}
	}
	if err == nil {
		err = c.insert(ctx, TableClaims, list, cols, &b.claimsNative)
	}
	if err != nil {
		return fmt.Errorf("insert %d rows into %s: %w", n, TableClaims, err)
	}
	return nil
}

// shardKeys returns, for each row of p, cityHash64(topic, partition) as
// ClickHouse computes it: the shard key of the partition's rows on a
// cluster (sink_dedup_claims' shard_key), in the scratch slice *buf. The
// partitions not seen before are asked of the server in one query, then
// kept; the cache is consulted once per run of one partition's rows.
func (c *Conn) shardKeys(ctx context.Context, p *provenance, buf *[]uint64) ([]uint64, error) {
	c.shardMu.Lock()
	defer c.shardMu.Unlock()
	if c.shardKey == nil {
		c.shardKey = make(map[topicPart]uint64)
	}
	var missing []topicPart
	partitionRuns(p, func(k topicPart, _, _ int) {
		if _, ok := c.shardKey[k]; !ok && !slices.Contains(missing, k) {
			missing = append(missing, k)
		}
	})
	if len(missing) > 0 {
		sel := make([]string, len(missing))
		for i, k := range missing {
			sel[i] = fmt.Sprintf("SELECT toUInt32(%d) AS i, cityHash64(%s, toInt32(%d)) AS h", i, quote(k.topic), k.part)
		}
		rows, err := c.db.Query(ctx, strings.Join(sel, " UNION ALL "))
		if err != nil {
			return nil, fmt.Errorf("shard keys of %d partitions: %w", len(missing), err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				i uint32
				h uint64
			)
			if err := rows.Scan(&i, &h); err != nil {
				return nil, fmt.Errorf("shard keys of %d partitions: %w", len(missing), err)
			}
			c.shardKey[missing[i]] = h
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("shard keys of %d partitions: %w", len(missing), err)
		}
	}
	out := slices.Grow((*buf)[:0], len(p.offset))[:len(p.offset)]
	*buf = out
	var err error
	partitionRuns(p, func(k topicPart, from, to int) {
		h, ok := c.shardKey[k]
		if !ok && err == nil {
			err = fmt.Errorf("no shard key of %s/%d from the server", k.topic, k.part)
		}
		for i := from; i < to; i++ {
			out[i] = h
		}
	})
	return out, err
}
