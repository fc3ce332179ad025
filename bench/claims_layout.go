package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/surgeio/surge/analytics"
)

// claimsLayoutParts and claimsLayoutRows are the parts per round and the
// claims per part: about a 2-million-row drain of the sink (its batches are
// up to 200k rows) and a little more.
const (
	claimsLayoutParts = 20
	claimsLayoutRows  = 125_000
)

// claimsLayoutShare is the most the current claims table's merge may take
// of the former one's: the layout change is worth keeping only if it saves
// at least a tenth.
const claimsLayoutShare = 0.9

// runClaimsLayout measures what ClickHouse spends on the same claims in
// sink_dedup_claims (every column a number, key (scope_key, event_hash)) and
// in sink_claims, the table it replaced (the topic's name in every row, key
// (kafka_topic, scope, event_hash)), the baseline. Each round fills both
// with the same claims, part by part with merges stopped as a sink's
// INSERTs make them, then merges each into one part; the server's own
// part_log gives the time it spent writing the parts and merging them.
func runClaimsLayout(ctx context.Context, e *env) (*section, error) {
	sec := &section{Name: "claims-layout"}
	ch, closeCH, err := startScratchClickHouse(ctx, e, "claims-layout", analytics.WithPartLog())
	if err != nil {
		return nil, err
	}
	defer closeCH()
	db := ch.conn.DB()
	// The same claims for both: 16 scopes of one topic, uniform hashes,
	// each part in its table's ORDER BY order (the topic is one: by scope,
	// then hash, in both).
	gen := func(off int) string {
		return fmt.Sprintf(`FROM (SELECT toUInt32(number %% 16) AS s, cityHash64(number + %[1]d) AS h,
    sipHash64(number + %[1]d) AS h2, toInt32(number %% 16) AS p, toInt64(number + %[1]d) AS o,
    toDateTime('2026-12-07 10:00:00') AS at FROM numbers(%[2]d)) ORDER BY s, h`, off, claimsLayoutRows)
	}
	tables := []struct{ name, insert string }{
		{"sink_claims", "INSERT INTO sink_claims (scope, event_hash, event_hash2, kafka_partition, kafka_offset, ingested_at, kafka_topic) " +
			"SELECT s, h, h2, p, o, at, 'user-events' "},
		{"sink_dedup_claims", "INSERT INTO sink_dedup_claims (scope_key, event_hash, event_hash2, kafka_partition, kafka_offset, ingested_at) " +
			"SELECT toUInt64(1234567) * 4294967296 + s, h, h2, p, o, at "},
	}
	type cost struct{ write, merge time.Duration }
	costs := map[string][]cost{}
	rounds := max(5, e.cfg.sinkRuns)
	for round := range rounds {
		for _, t := range tables {
			if err := db.Exec(ctx, "TRUNCATE TABLE "+t.name); err != nil {
				return nil, err
			}
			if err := db.Exec(ctx, "SYSTEM STOP MERGES "+t.name); err != nil {
				return nil, err
			}
			since := time.Now().Add(-time.Second)
			for p := range claimsLayoutParts {
				if err := db.Exec(ctx, t.insert+gen(p*claimsLayoutRows)); err != nil {
					return nil, fmt.Errorf("fill %s: %w", t.name, err)
				}
			}
			if err := db.Exec(ctx, "SYSTEM START MERGES "+t.name); err != nil {
				return nil, err
			}
			if err := db.Exec(ctx, "OPTIMIZE TABLE "+t.name+" FINAL"); err != nil {
				return nil, err
			}
			if err := db.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
				return nil, err
			}
			var write, merge, merged uint64
			if err := db.QueryRow(ctx, fmt.Sprintf(`SELECT sumIf(duration_ms, event_type = 'NEW_PART'), sumIf(duration_ms, event_type = 'MERGE_PARTS'),
    sumIf(rows, event_type = 'MERGE_PARTS')
FROM system.part_log WHERE database = currentDatabase() AND table = ? AND event_time >= toDateTime(%d)`, since.Unix()), t.name).
				Scan(&write, &merge, &merged); err != nil {
				return nil, fmt.Errorf("part_log of %s: %w", t.name, err)
			}
			// A background merge may take some parts before OPTIMIZE takes
			// the rest: the merge cost is per row merged, scaled to the
			// claims of one round.
			total := uint64(claimsLayoutParts * claimsLayoutRows)
			c := cost{time.Duration(write) * time.Millisecond,
				time.Duration(float64(merge) * float64(total) / float64(max(merged, 1)) * float64(time.Millisecond))}
			costs[t.name] = append(costs[t.name], c)
			e.printf("round %d, %s: %d parts of %s claims written in %s; %s rows merged in %d ms (%s per %s)", round+1, t.name,
				claimsLayoutParts, fmtCount(claimsLayoutRows), fmtMs(c.write), fmtCount(int64(merged)), merge, fmtMs(c.merge), fmtCount(int64(total)))
		}
	}
	med := func(name string, f func(cost) time.Duration) time.Duration {
		var ds []time.Duration
		for _, c := range costs[name] {
			ds = append(ds, f(c))
		}
		return medianDuration(ds)
	}
	write := func(c cost) time.Duration { return c.write }
	merge := func(c cost) time.Duration { return c.merge }
	oldW, newW := med("sink_claims", write), med("sink_dedup_claims", write)
	oldM, newM := med("sink_claims", merge), med("sink_dedup_claims", merge)
	share := float64(newM) / float64(max(oldM, time.Millisecond))
	sec.Targets = []target{{
		Goal:   fmt.Sprintf("sink_dedup_claims merge <= %.2f of sink_claims'", claimsLayoutShare),
		Result: fmt.Sprintf("%.2f (%s vs %s)", share, fmtMs(newM), fmtMs(oldM)),
		Met:    share <= claimsLayoutShare,
	}}
	sec.Summary = fmt.Sprintf("claims-layout: %s claims, merge %s vs %s (%.2f of the former table), parts written %s vs %s",
		fmtCount(claimsLayoutParts*claimsLayoutRows), fmtMs(newM), fmtMs(oldM), share, fmtMs(newW), fmtMs(oldW))
	var b strings.Builder
	fmt.Fprintf(&b, "| table | parts written (median) | merge into one part (median) |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| sink_claims (before migration 010: topic name in every row) | %s | %s |\n", fmtMs(oldW), fmtMs(oldM))
	fmt.Fprintf(&b, "| sink_dedup_claims (numbers only) | %s | %s |\n\n", fmtMs(newW), fmtMs(newM))
	fmt.Fprintf(&b, "Method: %d rounds; in each, both tables are truncated and filled with the same %s claims "+
		"(16 scopes of one topic, uniform 64-bit hashes) in %d INSERTs of %s rows with merges stopped, "+
		"each part sent in its table's ORDER BY order, then merged by OPTIMIZE FINAL (a background merge may take some parts first: "+
		"the merge time is per row merged, scaled to one round's claims). The times are "+
		"the server's own (system.part_log: NEW_PART and MERGE_PARTS durations), not the client's.\n",
		rounds, fmtCount(claimsLayoutParts*claimsLayoutRows), claimsLayoutParts, fmtCount(claimsLayoutRows))
	sec.Body = b.String()
	return sec, nil
}
