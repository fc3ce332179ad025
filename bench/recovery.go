package main

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	chgo "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/schemas"
)

// recoveryTarget is the most a sink may spend reading what ClickHouse holds
// when it takes partitions, at any size of history.
const recoveryTarget = 100 * time.Millisecond

// recoveryChunk is the rows per INSERT … SELECT while filling history.
const recoveryChunk = 5_000_000

// recoveryStep is one size of history and what was measured at it.
type recoveryStep struct {
	rows                  int
	fill                  time.Duration // time to add this step's rows
	scan, marks, unsettle time.Duration // medians
	parts                 uint64
	copied                bool // reached by attaching copies of the history's parts
}

// speedUp is how many times faster the settled marks read than the scan.
func (st recoveryStep) speedUp() float64 {
	return float64(st.scan) / float64(max(st.marks, time.Microsecond))
}

// judge holds the step's worst read (settled or unsettled marks) to
// recoveryTarget; where names the setup in the goal ("" or " on the 2×2
// cluster") and scan the baseline. It returns the target and the summary
// entry.
func (st recoveryStep) judge(where, scan string) (target, string) {
	worst := max(st.marks, st.unsettle)
	return target{
			Goal:   fmt.Sprintf("recovery read%s at %s rows of history <= %s", where, fmtCount(int64(st.rows)), recoveryTarget),
			Result: fmt.Sprintf("%s (%s %s, %.0f× faster)", fmtMs(worst), scan, fmtMs(st.scan), st.speedUp()),
			Met:    worst <= recoveryTarget,
		},
		fmt.Sprintf("%s rows %s (scan %s)", fmtCount(int64(st.rows)), fmtMs(worst), fmtMs(st.scan))
}

// runRecovery fills the orders table with growing history and, at each
// size, times the three ways a sink learns what ClickHouse holds of a
// topic's partitions: the full scan (max(kafka_offset) GROUP BY partition
// over every raw table, what the sink did before the write-ahead marks),
// the marks when the last write of every partition is settled (start,
// rebalance), and the marks when the last write of every partition is an
// unsettled intent (after a crash mid-write: one pruned probe each).
func runRecovery(ctx context.Context, e *env) (*section, error) {
	sec := &section{Name: "recovery"}
	ch, closeCH, err := startScratchClickHouse(ctx, e, "recovery")
	if err != nil {
		return nil, err
	}
	defer closeCH()

	parts := int64(e.cfg.partitions)
	now := time.Now().UTC().Truncate(time.Second)
	// History is chronological over the 30 days before now: the newest rows
	// share the current month's partition with the sink's last writes.
	start := now.Add(-30 * 24 * time.Hour)
	span := int64(30*24*time.Hour/time.Second) - 60
	maxRows := e.cfg.recoveryRows[len(e.cfg.recoveryRows)-1]
	state := map[int32]analytics.Position{}
	filled := 0
	var steps []recoveryStep
	for _, size := range e.cfg.recoveryRows {
		t0 := time.Now()
		copied := false
		if size > e.cfg.recoveryFill && filled > 0 && size%filled == 0 {
			// Beyond what can be filled in reasonable time here: add
			// hard-linked copies of the history filled so far (its parts
			// attached again, offsets repeating), merges stopped.
			if err := copyHistory(ctx, ch, size/filled-1); err != nil {
				return nil, err
			}
			filled, copied = size, true
		}
		for from := filled; from < size; from += recoveryChunk {
			n := min(recoveryChunk, size-from)
			// Row number r of maxRows: partition r mod P, offset r div P,
			// ingested_at growing with r across the 30 days. Each step adds
			// rows at new offsets, spread over the same days.
			q := fmt.Sprintf(`INSERT INTO orders
    (campaign_id, created_at, kafka_topic, kafka_partition, kafka_offset, ingested_at)
SELECT 'black-friday', toDateTime(%d + intDiv((number %% %d) * %d, %d)) AS t,
    'orders', toInt32(number %% %d), toInt64(intDiv(number, %d)), t
FROM numbers(%d, %d)`, start.Unix(), maxRows, span, maxRows, parts, parts, from, n)
			// One part per chunk: fewer parts, fewer merges while filling.
			fillCtx := chgo.Context(ctx, chgo.WithSettings(chgo.Settings{
				"min_insert_block_size_rows": recoveryChunk, "min_insert_block_size_bytes": 4 << 30}))
			if err := ch.conn.DB().Exec(fillCtx, q); err != nil {
				return nil, fmt.Errorf("fill history to %s rows: %w", fmtCount(int64(size)), err)
			}
		}
		filled = size
		st := recoveryStep{rows: size, fill: time.Since(t0), copied: copied}
		e.printf("history %s rows: filled in %.1fs (copies: %v)", fmtCount(int64(size)), st.fill.Seconds(), copied)

		// The sink's last batch: 100 orders per partition, stamped now,
		// between an intent and a done mark, as the sink writes them.
		hiBase := int64(size)/parts + 1_000_000
		if err := writeMarked(ctx, ch.conn, now, parts, hiBase, state, true); err != nil {
			return nil, err
		}
		ch.waitMergesIdle(ctx, 5*time.Minute)
		st.parts, _ = ch.count(ctx, "SELECT count() FROM system.parts WHERE active AND database = 'surge' AND table = 'orders'")

		want, err := ch.conn.Watermarks(ctx, "orders")
		if err != nil {
			return nil, err
		}
		check := func() error {
			got, err := ch.conn.Positions(ctx, "orders")
			if err != nil {
				return err
			}
			if flat := flatten(got); !reflect.DeepEqual(flat, want) {
				return fmt.Errorf("marks say %v, the full scan %v", flat, want)
			}
			return nil
		}
		runs := e.cfg.recoveryRuns
		if st.scan, err = timeQuery(ctx, runs, func() error { _, err := ch.conn.Watermarks(ctx, "orders"); return err }); err != nil {
			return nil, err
		}
		if st.marks, err = timeQuery(ctx, runs, check); err != nil {
			return nil, err
		}
		// A crash mid-write: an intent for the next batch of every
		// partition, whose INSERT never ran.
		if err := writeMarked(ctx, ch.conn, now.Add(time.Second), parts, hiBase+1000, state, false); err != nil {
			return nil, err
		}
		if st.unsettle, err = timeQuery(ctx, runs, check); err != nil {
			return nil, err
		}
		e.printf("  full scan %s, marks %s, marks with an unsettled intent per partition %s (%d parts)",
			fmtMs(st.scan), fmtMs(st.marks), fmtMs(st.unsettle), st.parts)
		steps = append(steps, st)
	}

	var rows [][]string
	allMet := true
	var summary []string
	for _, st := range steps {
		tg, line := st.judge("", "full scan")
		allMet = allMet && tg.Met
		fill := fmt.Sprintf("%.0fs", st.fill.Seconds())
		if st.copied {
			fill += " (copies)"
		}
		rows = append(rows, []string{fmtCount(int64(st.rows)), fill, fmt.Sprint(st.parts),
			fmtMs(st.scan), "**" + fmtMs(st.marks) + "**", "**" + fmtMs(st.unsettle) + "**", fmt.Sprintf("%.0f×", st.speedUp())})
		summary = append(summary, line)
		sec.Targets = append(sec.Targets, tg)
	}
	sec.Summary = fmt.Sprintf("recovery: %s%s", strings.Join(summary, ", "), verdict(allMet))
	var body strings.Builder
	body.WriteString(mdTable([]string{"history (orders rows)", "fill time", "active parts", "full scan (before)",
		"marks, settled", "marks, unsettled intent on every partition", "speed-up (settled)"}, rows))
	fmt.Fprintf(&body, `
What a sink reads when it takes partitions (start, rebalance, failed write),
timed at growing history of the orders table: %d partitions, rows
chronological over the 30 days before the run (they share the current month's
ClickHouse partition with the sink's last write), filled with INSERT … SELECT
FROM numbers() in chunks of %s rows, merges waited out before timing.
Sizes above %s rows (fill time "copies") are reached by attaching
hard-linked copies of the parts filled so far (ALTER TABLE … ATTACH
PARTITION … FROM), with merges on orders stopped: filling a billion rows
with INSERT … SELECT runs at about 100k rows/s on this shared machine
(hours); the copies repeat offsets, which changes neither the full scan's
work nor the maximum it finds.
"Full scan" is analytics.Conn.Watermarks, max(kafka_offset) GROUP BY
kafka_partition over every raw table (what the sink read before); "marks"
is analytics.Conn.Positions, which reads sink_offsets (write-ahead marks,
folded by ReplacingMergeTree) and, for a key whose last mark is an unsettled
intent, probes the raw table for that intent's last row through the table's
ORDER BY prefix and ingested_at (a few granules). Both answers are checked
to be equal at every step. Each figure is the median of %d timed runs after
an untimed one. The settled case is every start and rebalance; the unsettled
case follows a crash of the sink or ClickHouse in the middle of a write.
`, parts, fmtCount(recoveryChunk), fmtCount(int64(e.cfg.recoveryFill)), e.cfg.recoveryRuns)
	sec.Body = body.String()
	return sec, nil
}

// writeMarked writes the intent of 100 orders per partition at offsets from
// hiBase, stamped at; with write it then writes the rows and a done mark.
func writeMarked(ctx context.Context, conn *analytics.Conn, at time.Time, parts, hiBase int64, state map[int32]analytics.Position, write bool) error {
	b := analytics.NewBatch()
	for p := range int32(parts) {
		for i := range int64(100) {
			b.AddOrder(analytics.Source{Topic: "orders", Partition: p, Offset: hiBase + i},
				&schemas.Order{EventID: "e", UserID: "u", Currency: "EUR", CampaignID: "black-friday", CreatedAt: at})
		}
	}
	var intents, dones []analytics.Mark
	for _, r := range b.Ranges() {
		cur, ok := state[r.Partition]
		if !ok {
			cur.Offset = -1 // the history filled directly: the done mark below covers it
		}
		m := analytics.Mark{Table: r.Table, Topic: r.Topic, Partition: r.Partition, Seq: cur.Seq + 1,
			Prev: cur.Offset, Hi: r.Hi, IngestedAt: at, Probe: r.Probe}
		intents = append(intents, m)
		m.Seq, m.Done = m.Seq+1, true
		dones = append(dones, m)
	}
	if err := conn.WriteMarks(ctx, intents); err != nil {
		return err
	}
	for _, m := range intents {
		state[m.Partition] = analytics.Position{Offset: m.Prev, Seq: m.Seq}
	}
	if !write {
		return nil
	}
	if err := conn.Write(ctx, b, at); err != nil {
		return err
	}
	for _, m := range dones {
		state[m.Partition] = analytics.Position{Offset: m.Hi, Seq: m.Seq}
	}
	return conn.WriteMarks(ctx, dones)
}

// flatten turns positions into the shape of Watermarks.
func flatten(pos map[analytics.Table]map[int32]analytics.Position) map[analytics.Table]map[int32]int64 {
	out := map[analytics.Table]map[int32]int64{}
	for t, ps := range pos {
		for p, at := range ps {
			if at.Offset < 0 {
				continue
			}
			if out[t] == nil {
				out[t] = map[int32]int64{}
			}
			out[t][p] = at.Offset
		}
	}
	return out
}

// copyHistory attaches n more copies of the orders table's parts: a copy
// table takes the parts of every partition (hard links), and orders
// attaches them from it n times. Merges on orders stop first, so that the
// copies are not rewritten.
func copyHistory(ctx context.Context, ch *clickhouse, n int) error {
	db := ch.conn.DB()
	if err := db.Exec(ctx, "SYSTEM STOP MERGES orders"); err != nil {
		return fmt.Errorf("stop merges: %w", err)
	}
	if err := db.Exec(ctx, "CREATE TABLE IF NOT EXISTS orders_copy AS orders"); err != nil {
		return fmt.Errorf("create the copy table: %w", err)
	}
	rows, err := db.Query(ctx, "SELECT DISTINCT partition FROM system.parts WHERE database = currentDatabase() AND table = 'orders' AND active")
	if err != nil {
		return fmt.Errorf("list partitions: %w", err)
	}
	var partitions []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return err
		}
		partitions = append(partitions, p)
	}
	rows.Close()
	for _, p := range partitions {
		if err := db.Exec(ctx, "ALTER TABLE orders_copy ATTACH PARTITION "+p+" FROM orders"); err != nil {
			return fmt.Errorf("copy partition %s: %w", p, err)
		}
	}
	for range n {
		for _, p := range partitions {
			if err := db.Exec(ctx, "ALTER TABLE orders ATTACH PARTITION "+p+" FROM orders_copy"); err != nil {
				return fmt.Errorf("attach a copy of partition %s: %w", p, err)
			}
		}
	}
	return db.Exec(ctx, "DROP TABLE orders_copy")
}
