package analytics

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Distinct buyers
//
// campaign-summary's buyers are the shoppers with at least one order in a
// minute of the range, per campaign and currency: exact, equal to
// uniqExact(user_id) over the raw orders of those minutes. They are
// counted in campaign_buyers (migration 007), which holds one row per
// (campaign_id, currency, user_id) and the sorted minutes of the
// shopper's orders, rather than by merging per-minute uniqExact states:
// merging those sets costs a hash-set insert per shopper and minute
// (about 0.7 s of CPU at a million orders here), while a row per shopper
// costs a filter.
//
// Background merges fold a shopper's rows into one, eventually. Rows of
// parts not merged yet are counted exactly like this: let head be the
// table's largest active part (it holds each shopper at most once, as
// every part does) and P(row) "the row has a minute in the range". Then
//
//	buyers = count of head rows with P
//	       + for each shopper with a row outside head that has P:
//	         1 - (1 if the shopper's head row has P, else 0)
//
// The first term is a filtered count over already-merged rows; the second
// groups only the shoppers of the other parts (the orders of the last
// seconds to minutes, until the next merge into head) together with their
// head rows. Part names are immutable: if head is merged away between
// finding its name and reading, no part has that name, the first term is
// empty and the second counts every shopper, slower but still exact.
//
// A Conn made with KeepBuyersParts counts the same way over the parts kept
// in memory (report_buyers_kept.go).
//
// On a cluster campaign_buyers is a Distributed table over per-shard parts,
// and a shopper's rows may sit on two shards (after a partition resize
// moved them), so there the buyers are grouped per shopper across the
// cluster instead (exact; it costs what the shoppers in the range cost).

// buyersTable is the per-shopper rollup campaign-summary reads buyers from.
const buyersTable = "campaign_buyers"

// queryEnv is what a report's query depends on besides its parameters.
type queryEnv struct {
	// head is the largest active part of campaign_buyers on one server,
	// "" when it has none.
	head string
	// parts are campaign_buyers' active parts, largest first.
	parts []partInfo
	// kept is set when the buyers are counted in Go over the parts kept
	// in memory (report_buyers_kept.go): the query then leaves them 0.
	kept bool
	// cluster is set when campaign_buyers is a Distributed table.
	cluster bool
}

// partInfo names a part; a part with the same name, rows and modification
// time is the same part.
type partInfo struct {
	name     string
	rows     uint64
	modified time.Time
}

// buyersEnv lists campaign_buyers' active parts, or finds that it is a
// Distributed table.
func (c *Conn) buyersEnv(ctx context.Context) (queryEnv, error) {
	var env queryEnv
	rows, err := c.db.Query(ctx, `
SELECT name, rows, modification_time FROM system.parts
WHERE database = ? AND table = ? AND active
ORDER BY rows DESC, name`, c.database, buyersTable)
	if err != nil {
		return env, fmt.Errorf("list the parts of %s: %w", buyersTable, err)
	}
	for rows.Next() {
		var pi partInfo
		if err = rows.Scan(&pi.name, &pi.rows, &pi.modified); err != nil {
			break
		}
		env.parts = append(env.parts, pi)
	}
	rows.Close()
	if err == nil {
		err = rows.Err()
	}
	if err != nil {
		return env, fmt.Errorf("list the parts of %s: %w", buyersTable, err)
	}
	if len(env.parts) > 0 {
		env.head = env.parts[0].name
		return env, nil
	}
	// No part: an empty table, or a Distributed one.
	var engine string
	rows, err = c.db.Query(ctx, `SELECT engine FROM system.tables WHERE database = ? AND name = ?`, c.database, buyersTable)
	if err != nil {
		return env, fmt.Errorf("read the engine of %s: %w", buyersTable, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return env, fmt.Errorf("read the engine of %s: %w", buyersTable, err)
		}
		return env, fmt.Errorf("table %s.%s does not exist: run surge migrate", c.database, buyersTable)
	}
	if err := rows.Scan(&engine); err != nil {
		return env, fmt.Errorf("read the engine of %s: %w", buyersTable, err)
	}
	env.cluster = engine == "Distributed"
	return env, nil
}

// inRange returns the condition "the row has an order minute in p's
// range" over campaign_buyers' ordersMap.minute, and its arguments.
func (p ReportParams) inRange() (string, []any) {
	var (
		conds []string
		args  []any
	)
	if !p.From.IsZero() {
		conds = append(conds, "m >= toDateTime(?)")
		args = append(args, dateTime(p.From).Unix())
	}
	if !p.To.IsZero() {
		conds = append(conds, "m < toDateTime(?)")
		args = append(args, dateTime(p.To).Unix())
	}
	if len(conds) == 0 {
		return "1", nil
	}
	return "arrayExists(m -> " + strings.Join(conds, " AND ") + ", ordersMap.minute)", args
}

// buyersQuery returns a query of campaign_id, currency and buyers (UInt64)
// for p, and its arguments.
func buyersQuery(p ReportParams, env queryEnv) (string, []any) {
	in, inArgs := p.inRange()
	camp, campArgs := "", []any(nil)
	if p.Campaign != "" {
		camp, campArgs = " AND campaign_id = ?", []any{p.Campaign}
	}
	if env.cluster {
		var args []any
		args = append(args, inArgs...)
		args = append(args, campArgs...)
		return `
    SELECT campaign_id, currency, count() AS buyers
    FROM
    (
        SELECT campaign_id, currency, user_id
        FROM ` + buyersTable + `
        WHERE ` + in + camp + `
        GROUP BY campaign_id, currency, user_id
    )
    GROUP BY campaign_id, currency`, args
	}
	var args []any
	add := func(a ...any) { args = append(args, a...) }
	// In the order of the placeholders below.
	add(inArgs...)
	add(env.head)
	add(campArgs...)
	add(inArgs...)
	add(env.head)
	add(inArgs...)
	add(env.head)
	add(inArgs...)
	add(campArgs...)
	add(campArgs...)
	return `
    SELECT campaign_id, currency, sum(n) AS buyers
    FROM
    (
        SELECT campaign_id, currency, toUInt64(countIf(` + in + `)) AS n
        FROM ` + buyersTable + `
        WHERE _part = ?` + camp + `
        GROUP BY campaign_id, currency
        UNION ALL
        SELECT campaign_id, currency, toUInt64(sum(any_in - head_in)) AS n
        FROM
        (
            SELECT campaign_id, currency, user_id,
                max(` + in + `) AS any_in,
                max(_part = ? AND ` + in + `) AS head_in
            FROM ` + buyersTable + `
            WHERE (campaign_id, currency, user_id) IN
            (
                SELECT campaign_id, currency, user_id
                FROM ` + buyersTable + `
                WHERE _part != ? AND ` + in + camp + `
            )` + camp + `
            GROUP BY campaign_id, currency, user_id
        )
        GROUP BY campaign_id, currency
    )
    GROUP BY campaign_id, currency`, args
}
