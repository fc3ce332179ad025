package main

import (
	"context"
	"fmt"
	"time"

	"github.com/surgeio/surge/analytics"
)

// claimsLayoutParts and claimsLayoutRows are the parts per round and the
// claims per part: about a 2-million-row drain of the sink (its batches are
// up to 200k rows) and a little more.
const (
	claimsLayoutParts  = 20
	claimsLayoutRows   = 125_000
	claimsLayoutClaims = claimsLayoutParts * claimsLayoutRows
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
	// Each round fills a fresh copy of each table (CREATE TABLE ... AS), so
	// that part_log, filtered by the copy's name, holds that round's parts
	// and merges and nothing else.
	tables := []struct{ name, columns, values string }{
		{"sink_claims", "scope, event_hash, event_hash2, kafka_partition, kafka_offset, ingested_at, kafka_topic",
			"s, h, h2, p, o, at, 'user-events'"},
		{"sink_dedup_claims", "scope_key, event_hash, event_hash2, kafka_partition, kafka_offset, ingested_at",
			"toUInt64(1234567) * 4294967296 + s, h, h2, p, o, at"},
	}
	writes, merges := map[string][]time.Duration{}, map[string][]time.Duration{}
	rounds := max(5, e.cfg.sinkRuns)
	for round := range rounds {
		for _, t := range tables {
			name := fmt.Sprintf("%s_round%d", t.name, round+1)
			for _, q := range []string{
				"CREATE TABLE " + name + " AS " + t.name,
				"SYSTEM STOP MERGES " + name,
			} {
				if err := db.Exec(ctx, q); err != nil {
					return nil, err
				}
			}
			for p := range claimsLayoutParts {
				if err := db.Exec(ctx, "INSERT INTO "+name+" ("+t.columns+") SELECT "+t.values+" "+gen(p*claimsLayoutRows)); err != nil {
					return nil, fmt.Errorf("fill %s: %w", name, err)
				}
			}
			for _, q := range []string{
				"SYSTEM START MERGES " + name,
				"OPTIMIZE TABLE " + name + " FINAL",
				"SYSTEM FLUSH LOGS",
			} {
				if err := db.Exec(ctx, q); err != nil {
					return nil, err
				}
			}
			var write, merge, written, merged uint64
			if err := db.QueryRow(ctx, `SELECT sumIf(duration_ms, event_type = 'NEW_PART'), sumIf(duration_ms, event_type = 'MERGE_PARTS'),
    sumIf(rows, event_type = 'NEW_PART'), sumIf(rows, event_type = 'MERGE_PARTS')
FROM system.part_log WHERE database = currentDatabase() AND table = ?`, name).
				Scan(&write, &merge, &written, &merged); err != nil {
				return nil, fmt.Errorf("part_log of %s: %w", name, err)
			}
			if written != claimsLayoutClaims || merged == 0 {
				return nil, fmt.Errorf("part_log of %s: %d rows written and %d merged; want %d written and a merge (is the part log on?)",
					name, written, merged, claimsLayoutClaims)
			}
			if err := db.Exec(ctx, "DROP TABLE "+name); err != nil {
				return nil, err
			}
			// A background merge may take some parts before OPTIMIZE takes
			// the rest: the merge cost is per row merged, scaled to the
			// claims of one round.
			w := time.Duration(write) * time.Millisecond
			m := time.Duration(float64(merge) * claimsLayoutClaims / float64(merged) * float64(time.Millisecond))
			writes[t.name], merges[t.name] = append(writes[t.name], w), append(merges[t.name], m)
			e.printf("round %d, %s: %d parts of %s claims written in %s; %s rows merged in %d ms (%s per %s)", round+1, t.name,
				claimsLayoutParts, fmtCount(claimsLayoutRows), fmtMs(w), fmtCount(int64(merged)), merge, fmtMs(m), fmtCount(claimsLayoutClaims))
		}
	}
	oldW, newW := medianDuration(writes["sink_claims"]), medianDuration(writes["sink_dedup_claims"])
	oldM, newM := medianDuration(merges["sink_claims"]), medianDuration(merges["sink_dedup_claims"])
	share := float64(newM) / float64(oldM)
	sec.Targets = []target{{
		Goal:   fmt.Sprintf("sink_dedup_claims merge <= %.2f of sink_claims'", claimsLayoutShare),
		Result: fmt.Sprintf("%.2f (%s vs %s)", share, fmtMs(newM), fmtMs(oldM)),
		Met:    share <= claimsLayoutShare,
	}}
	sec.Summary = fmt.Sprintf("claims-layout: %s claims, merge %s vs %s (%.2f of the former table), parts written %s vs %s",
		fmtCount(claimsLayoutClaims), fmtMs(newM), fmtMs(oldM), share, fmtMs(newW), fmtMs(oldW))
	sec.Body = mdTable([]string{"table", "parts written (median)", "merge into one part (median)"}, [][]string{
		{"sink_claims (before migration 010: topic name in every row)", fmtMs(oldW), fmtMs(oldM)},
		{"sink_dedup_claims (numbers only)", fmtMs(newW), fmtMs(newM)},
	}) + fmt.Sprintf("\nMethod: %d rounds; in each, a fresh copy of each table (CREATE TABLE ... AS) is filled with the same %s claims "+
		"(16 scopes of one topic, uniform 64-bit hashes) in %d INSERTs of %s rows with merges stopped, "+
		"each part sent in its table's ORDER BY order, then merged by OPTIMIZE FINAL (a background merge may take some parts first: "+
		"the merge time is per row merged, scaled to one round's claims). The times are "+
		"the server's own (system.part_log: NEW_PART and MERGE_PARTS durations of that copy), not the client's; "+
		"a round whose part log lacks its parts or a merge fails the run.\n",
		rounds, fmtCount(claimsLayoutClaims), claimsLayoutParts, fmtCount(claimsLayoutRows))
	return sec, nil
}
