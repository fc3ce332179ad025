package analytics

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Rollup repair
//
// ClickHouse feeds the per-minute rollups from the materialized views after
// the raw part of an INSERT is written, outside any transaction: a server
// crash between the two (or, on a cluster, a view's INSERT that fails after
// the raw part committed) leaves a rollup short of rows its raw table holds.
// The raw tables stay exact (the sink's guarantee), so the rollups can
// always be rebuilt from them. RepairRollups compares, per rollup key
// (campaign and currency or type or rule, and minute), the raw table's
// aggregates with the rollup's and adds to the rollup exactly what it
// lacks: the missing count and sums as one extra row of states, and the
// raw minute's distinct buyers (a set union, so adding them again changes
// nothing). campaign_buyers is compared per campaign, currency and minute
// by its shoppers with an order in the minute, and gets a row for each
// shopper it lacks there.
//
// It only touches keys whose newest raw row was ingested more than Settle
// ago, so that it never races an INSERT whose view has yet to run (it
// returns the younger ones as Unsettled, to be tried again later), and it
// is meant to run from one place at a time: two repairs of the same key at
// once would both add the shortfall.

// RepairOpts says what RepairRollups looks at.
type RepairOpts struct {
	// Since limits the repair to the minutes that have raw rows ingested
	// at or after it (the rest of those minutes is compared too). Zero
	// compares every minute.
	Since time.Time
	// Settle skips keys whose newest raw row was ingested less than this
	// long ago. Default 1 minute.
	Settle time.Duration
	// DryRun finds the keys without writing.
	DryRun bool
}

// RollupFix is one rollup key that disagreed with its raw rows.
type RollupFix struct {
	Rollup string    `json:"rollup"`
	Key    []string  `json:"key"`
	Minute time.Time `json:"minute"`
	// Raw and Rolled are the row counts (orders, events, coupons) of the
	// key in the raw table and in the rollup before the repair.
	Raw    int64 `json:"raw"`
	Rolled int64 `json:"rolled"`
	// Fixed is false for a dry run, for a key whose newest raw row is
	// younger than Settle (Unsettled), and for a rollup that holds more
	// than its raw rows (which a repair cannot take back).
	Fixed     bool `json:"fixed"`
	Unsettled bool `json:"unsettled"`
}

type rollupSpec struct {
	rollup, raw string
	keys        []string // key columns besides minute, the same in both
	time        string   // the raw column minute is taken from
	rawAgg      []string // raw aggregates, compared in order with rolled
	rolled      []string
	fixCols     string // rollup columns the fix row sets besides the keys
	fixExprs    string // their values; {dN} is the shortfall of metric N, n the row number
	fixSrc      string // raw columns fixExprs reads besides the keys, or ""
	// rows, when set, is what the comparison reads instead of rollup: a
	// subquery with the key columns and minute.
	rows string
	// fix, when set, adds what the key lacks instead of fixRollup.
	fix func(ctx context.Context, c *Conn, s rollupSpec, fix RollupFix) error
}

var rollupSpecs = []rollupSpec{
	{
		rollup: "orders_per_minute", raw: "orders", keys: []string{"campaign_id", "currency"}, time: "created_at",
		rawAgg:   []string{"count()", "sum(amount)", "sum(toUInt64(coupon_id != ''))", "uniqExact(user_id)"},
		rolled:   []string{"countMerge(orders)", "sumMerge(gmv)", "sumMerge(coupon_orders)", "uniqExactMerge(buyers)"},
		fixCols:  "orders, gmv, coupon_orders, buyers",
		fixExprs: "countStateIf(n < {d0}), sumStateIf(toInt64({d1}), n = 0), sumStateIf(toUInt64({d2}), n = 0), uniqExactState(user_id)",
		fixSrc:   "user_id",
	},
	{
		rollup: "events_per_minute", raw: "user_events", keys: []string{"campaign_id", "type"}, time: "ts",
		rawAgg: []string{"count()"}, rolled: []string{"sum(events)"},
		fixCols: "events", fixExprs: "sumIf(toUInt64({d0}), n = 0)",
	},
	{
		rollup: "coupons_per_minute", raw: "coupons", keys: []string{"campaign_id", "rule_id"}, time: "issued_at",
		rawAgg:   []string{"count()", "sum(value)"},
		rolled:   []string{"countMerge(issued)", "sumMerge(value)"},
		fixCols:  "issued, value",
		fixExprs: "countStateIf(n < {d0}), sumStateIf(toInt64({d1}), n = 0)",
	},
	{
		// Also fills it, once, for coupons stored before migration 006.
		rollup: "coupons_currency_per_minute", raw: "coupons", keys: []string{"campaign_id", "currency"}, time: "issued_at",
		rawAgg:   []string{"count()", "sum(value)"},
		rolled:   []string{"countMerge(issued)", "sumMerge(value)"},
		fixCols:  "issued, value",
		fixExprs: "countStateIf(n < {d0}), sumStateIf(toInt64({d1}), n = 0)",
	},
	{
		// Per minute, the shoppers with an order in it (repair_buyers.go).
		rollup: buyersTable, raw: "orders", keys: []string{"campaign_id", "currency"}, time: "created_at",
		rawAgg: []string{"uniqExact(user_id)"}, rolled: []string{"uniqExact(user_id)"},
		rows: buyerMinutes, fix: fixBuyers,
	},
}

// RepairRollups finds the rollup keys that disagree with their raw rows
// and, unless opts.DryRun, adds what each rollup lacks. It returns every
// key it found. Reading goes through the usual table names, so it works
// the same on one server and on a cluster.
func (c *Conn) RepairRollups(ctx context.Context, opts RepairOpts) ([]RollupFix, error) {
	if opts.Settle <= 0 {
		opts.Settle = time.Minute
	}
	var out []RollupFix
	for _, s := range rollupSpecs {
		fixes, err := c.repairRollup(ctx, s, opts)
		out = append(out, fixes...)
		if err != nil {
			return out, fmt.Errorf("repair %s: %w", s.rollup, err)
		}
	}
	return out, nil
}

func (c *Conn) repairRollup(ctx context.Context, s rollupSpec, opts RepairOpts) ([]RollupFix, error) {
	keys := strings.Join(s.keys, ", ")
	var rawCols, rolledCols, differ []string
	for i := range s.rawAgg {
		rawCols = append(rawCols, fmt.Sprintf("toInt64(%s) AS r_%d", s.rawAgg[i], i))
		rolledCols = append(rolledCols, fmt.Sprintf("toInt64(%s) AS u_%d", s.rolled[i], i))
		differ = append(differ, fmt.Sprintf("r_%d != u_%d", i, i))
	}
	// With Since, both sides are limited to the (keys, minute) pairs of the
	// raw rows ingested since then: the rollup side through its ORDER BY
	// prefix, so that a repair after a recovery reads the recent minutes,
	// not all of the rollup's history.
	where, rolledWhere := "", ""
	args := []any{}
	if !opts.Since.IsZero() {
		recent := fmt.Sprintf("GLOBAL IN (SELECT DISTINCT %s, toStartOfMinute(%s) FROM %s WHERE ingested_at >= ?)",
			keys, s.time, s.raw)
		where = fmt.Sprintf("WHERE (%s, toStartOfMinute(%s)) %s", keys, s.time, recent)
		rolledWhere = fmt.Sprintf("WHERE (%s, minute) %s", keys, recent)
		since := opts.Since.UTC().Truncate(time.Second)
		args = append(args, since, since)
	}
	rolled := s.rollup
	if s.rows != "" {
		rolled = s.rows
	}
	rCols := make([]string, len(s.rawAgg))
	uCols := make([]string, len(s.rawAgg))
	for i := range s.rawAgg {
		rCols[i] = fmt.Sprintf("r_%d", i)
		uCols[i] = fmt.Sprintf("u_%d", i)
	}
	q := fmt.Sprintf(`SELECT %[1]s, minute, %[2]s, %[3]s, last >= now() - %[11]d AS unsettled
FROM (
    SELECT %[1]s, toStartOfMinute(%[4]s) AS minute, %[5]s, max(ingested_at) AS last
    FROM %[6]s %[7]s
    GROUP BY %[1]s, minute
)
ANY LEFT JOIN (
    SELECT %[1]s, minute, %[8]s FROM %[9]s %[12]s GROUP BY %[1]s, minute
) USING (%[1]s, minute)
WHERE %[10]s
ORDER BY minute, %[1]s`,
		keys, strings.Join(rCols, ", "), strings.Join(uCols, ", "), s.time, strings.Join(rawCols, ", "),
		s.raw, where, strings.Join(rolledCols, ", "), rolled, strings.Join(differ, " OR "), int64(opts.Settle/time.Second), rolledWhere)
	rows, err := c.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("compare with %s: %w", s.raw, err)
	}
	type found struct {
		fix       RollupFix
		raw, roll []int64
	}
	var all []found
	for rows.Next() {
		f := found{fix: RollupFix{Rollup: s.rollup, Key: make([]string, len(s.keys))},
			raw: make([]int64, len(s.rawAgg)), roll: make([]int64, len(s.rawAgg))}
		dest := make([]any, 0, len(s.keys)+1+2*len(s.rawAgg))
		for i := range f.fix.Key {
			dest = append(dest, &f.fix.Key[i])
		}
		dest = append(dest, &f.fix.Minute)
		for i := range f.raw {
			dest = append(dest, &f.raw[i])
		}
		for i := range f.roll {
			dest = append(dest, &f.roll[i])
		}
		var unsettled uint8
		dest = append(dest, &unsettled)
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return nil, fmt.Errorf("compare with %s: %w", s.raw, err)
		}
		f.fix.Minute = f.fix.Minute.UTC()
		f.fix.Raw, f.fix.Rolled = f.raw[0], f.roll[0]
		f.fix.Unsettled = unsettled != 0
		all = append(all, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("compare with %s: %w", s.raw, err)
	}
	out := make([]RollupFix, 0, len(all))
	for _, f := range all {
		if !opts.DryRun && !f.fix.Unsettled && f.raw[0] >= f.roll[0] {
			var err error
			if s.fix != nil {
				err = s.fix(ctx, c, s, f.fix)
			} else {
				err = c.fixRollup(ctx, s, f.fix, f.raw, f.roll)
			}
			if err != nil {
				return out, err
			}
			f.fix.Fixed = true
		}
		out = append(out, f.fix)
	}
	return out, nil
}

// fixRollup adds one row of states to s.rollup for the key of fix: the
// shortfall of each additive metric, and the raw minute's distinct values
// for a set metric.
func (c *Conn) fixRollup(ctx context.Context, s rollupSpec, fix RollupFix, raw, roll []int64) error {
	exprs := s.fixExprs
	for i := range raw {
		exprs = strings.ReplaceAll(exprs, fmt.Sprintf("{d%d}", i), fmt.Sprint(raw[i]-roll[i]))
	}
	keys := strings.Join(s.keys, ", ")
	src := keys + ", " + s.time
	if s.fixSrc != "" {
		src += ", " + s.fixSrc
	}
	var cond []string
	args := make([]any, 0, len(s.keys)+1)
	for i, k := range s.keys {
		cond = append(cond, k+" = ?")
		args = append(args, fix.Key[i])
	}
	cond = append(cond, "toStartOfMinute("+s.time+") = toDateTime(?)")
	args = append(args, fix.Minute.Unix()) // seconds: independent of the server's time zone
	inner := src
	if s.fixSrc != "" {
		inner = keys + ", " + s.fixSrc
	}
	q := fmt.Sprintf(`INSERT INTO %s (%s, minute, %s)
SELECT %s, minute, %s
FROM (
    SELECT %s, toStartOfMinute(%s) AS minute, rowNumberInAllBlocks() AS n
    FROM (SELECT %s FROM %s WHERE %s)
)
GROUP BY %s, minute`, s.rollup, keys, s.fixCols, keys, exprs, inner, s.time, src, s.raw, strings.Join(cond, " AND "), keys)
	ictx, err := c.insertContext(ctx)
	if err != nil {
		return err
	}
	if err := c.db.Exec(ictx, q, args...); err != nil {
		return fmt.Errorf("add the shortfall of %s %v at %s: %w", s.rollup, fix.Key, fix.Minute.Format(time.RFC3339), err)
	}
	return nil
}
