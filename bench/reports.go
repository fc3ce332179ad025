package main

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/surgeio/surge/analytics"
)

// reportTarget is the median latency each rollup report is held to.
const reportTarget = time.Second

// reportWindow is the event-time span the inserted data covers: a six-hour
// midnight peak.
const reportWindow = 6 * time.Hour

// reportChunk is the rows per INSERT … SELECT while filling.
const reportChunk = 1_000_000

// rawBaselines are the rollup reports' queries computed from the raw tables:
// the same columns, groups and order, without the per-minute rollups.
var rawBaselines = map[string]string{
	"campaign-summary": `
SELECT
    campaign_id AS campaign,
    currency,
    orders,
    gmv,
    buyers,
    if(orders = 0, 0., round(gmv / orders, 2)) AS avg_order_value,
    coupons_issued,
    coupons_redeemed
FROM
(
    SELECT campaign_id, currency,
        count() AS orders,
        sum(amount) AS gmv,
        uniqExact(user_id) AS buyers,
        sum(toUInt64(coupon_id != '')) AS coupons_redeemed
    FROM orders
    GROUP BY campaign_id, currency
)
ALL FULL OUTER JOIN
(
    SELECT campaign_id, count() AS coupons_issued
    FROM coupons
    GROUP BY campaign_id
) USING campaign_id
ORDER BY campaign, currency`,
	"gmv-per-minute": `
SELECT
    toStartOfMinute(created_at) AS minute,
    campaign_id AS campaign,
    currency,
    count() AS orders,
    sum(amount) AS gmv
FROM orders
GROUP BY minute, campaign_id, currency
ORDER BY minute, campaign, currency`,
}

// rollupReports are the reports timed against a raw-table baseline, in
// order; the other named reports read raw tables anyway and are timed for
// information.
var rollupReports = []string{"campaign-summary", "gmv-per-minute"}

// Campaigns and currencies of the inserted data, index-aligned.
const (
	fillCampaigns  = "['black-friday', 'cyber-monday', 'singles-day', 'lunar-new-year', 'hatsuuri']"
	fillCurrencies = "['USD', 'EUR', 'CNY', 'KRW', 'JPY']"
)

// runReports fills the raw tables (and through them the rollups) directly,
// then times the named reports against the same queries over raw tables.
func runReports(ctx context.Context, e *env) (*section, error) {
	ch, closeCH, err := startScratchClickHouse(ctx, e, "reports")
	if err != nil {
		return nil, err
	}
	defer closeCH()

	coupons, fillTook, err := fillReportTables(ctx, e, ch)
	if err != nil {
		return nil, err
	}
	ch.waitMergesIdle(ctx, 2*time.Minute)
	parts, _ := ch.count(ctx, "SELECT count() FROM system.parts WHERE active AND database = 'surge'")

	type timing struct {
		name          string
		surge, raw    time.Duration
		rows          int
		matches       bool
		informational bool
	}
	var timings []timing
	for _, name := range rollupReports {
		var res *analytics.ReportResult
		surge, err := timeQuery(ctx, e.cfg.reportRuns, func() error {
			var err error
			res, err = ch.conn.Report(ctx, name, analytics.ReportParams{})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("report %s: %w", name, err)
		}
		var rawRows [][]any
		raw, err := timeQuery(ctx, e.cfg.reportRuns, func() error {
			var err error
			rawRows, err = queryRows(ctx, ch, rawBaselines[name])
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("raw baseline of %s: %w", name, err)
		}
		tm := timing{name: name, surge: surge, raw: raw, rows: len(res.Rows), matches: reflect.DeepEqual(res.Rows, rawRows)}
		if !tm.matches {
			return nil, fmt.Errorf("report %s: the rollup's %d rows differ from the raw tables' %d rows", name, len(res.Rows), len(rawRows))
		}
		e.printf("%s: %s over rollups, %s over raw tables (%.1fx), %d rows, results equal",
			name, fmtMs(surge), fmtMs(raw), float64(raw)/float64(surge), tm.rows)
		timings = append(timings, tm)
	}
	for _, name := range analytics.ReportNames() {
		if _, ok := rawBaselines[name]; ok {
			continue
		}
		var res *analytics.ReportResult
		took, err := timeQuery(ctx, min(e.cfg.reportRuns, 3), func() error {
			var err error
			res, err = ch.conn.Report(ctx, name, analytics.ReportParams{})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("report %s: %w", name, err)
		}
		e.printf("%s (raw tables, no baseline): %s, %d rows", name, fmtMs(took), len(res.Rows))
		timings = append(timings, timing{name: name, surge: took, rows: len(res.Rows), informational: true})
	}

	sec := &section{}
	var summary []string
	var rows [][]string
	allMet := true
	for _, t := range timings {
		if t.informational {
			rows = append(rows, []string{t.name, fmtMs(t.surge) + " (reads raw tables)", "—", "—", fmt.Sprint(t.rows)})
			continue
		}
		met := t.surge < reportTarget
		allMet = allMet && met
		speedup := float64(t.raw) / float64(t.surge)
		summary = append(summary, fmt.Sprintf("%s %s (raw %s, %.1fx)", t.name, fmtMs(t.surge), fmtMs(t.raw), speedup))
		sec.Targets = append(sec.Targets, target{
			Goal:   fmt.Sprintf("%s median < %s", t.name, reportTarget),
			Result: fmt.Sprintf("%s (raw tables %s, %.1f× faster)", fmtMs(t.surge), fmtMs(t.raw), speedup),
			Met:    met,
		})
		rows = append(rows, []string{t.name, "**" + fmtMs(t.surge) + "**", fmtMs(t.raw), fmt.Sprintf("%.1f×", speedup), fmt.Sprint(t.rows)})
	}
	sec.Summary = fmt.Sprintf("reports: %s (target < %s each)%s", strings.Join(summary, ", "), reportTarget, verdict(allMet))
	var body strings.Builder
	body.WriteString(mdTable([]string{"report", "median, surge (rollups)", "median, raw tables", "speed-up", "result rows"}, rows))
	fmt.Fprintf(&body, `
Data: %s user events, %s orders and %s coupons over a %.0f-hour
event-time window, inserted into the raw tables with INSERT … SELECT FROM numbers() in
chunks of %s rows, so that the materialized views fill the per-minute
rollups exactly as they do behind the sink (%.1fs in all). 100,000 users,
five campaigns with one currency each, orders of 1–3 lines, one order in
ten with a coupon. Merges were waited out before timing (%d active parts
then).

Each figure is the median of %d timed runs after one untimed warm-up run.
surge's figure is analytics.Conn.Report (query plus reading the result into
Go values); the baseline runs the same report computed from the raw tables
without rollups (same columns, grouping and order, SQL in bench/reports.go)
through the same connection, and both results are checked to be equal.
Reports marked "reads raw tables" have no rollup to compare with and are
shown for information (median of at most 3 runs).
`,
		fmtCount(int64(e.cfg.reportEvents)), fmtCount(int64(e.cfg.reportOrders)), fmtCount(int64(coupons)),
		reportWindow.Hours(), fmtCount(reportChunk), fillTook.Seconds(), parts, e.cfg.reportRuns)
	sec.Body = body.String()
	return sec, nil
}

// fillReportTables fills the raw tables (and through them the rollups)
// directly with the report data set: e.cfg.reportEvents user events and
// e.cfg.reportOrders orders, a tenth as many coupons, over reportWindow up to
// the current hour. It returns the coupons written and the time it took.
func fillReportTables(ctx context.Context, e *env, ch *clickhouse) (coupons int, took time.Duration, err error) {
	coupons = max(e.cfg.reportOrders/10, 1)
	t0 := time.Now()
	base := t0.UTC().Truncate(time.Hour).Add(-reportWindow)
	for _, f := range []struct {
		name string
		rows int
		sql  func(from, n, total int) string
	}{
		{"user_events", e.cfg.reportEvents, func(from, n, total int) string { return fillEvents(base, from, n, total) }},
		{"orders", e.cfg.reportOrders, func(from, n, total int) string { return fillOrders(base, from, n, total) }},
		{"coupons", coupons, func(from, n, total int) string { return fillCoupons(base, from, n, total) }},
	} {
		for from := 0; from < f.rows; from += reportChunk {
			if err := ch.conn.DB().Exec(ctx, f.sql(from, min(reportChunk, f.rows-from), f.rows)); err != nil {
				return 0, 0, fmt.Errorf("fill %s: %w", f.name, err)
			}
		}
	}
	took = time.Since(t0)
	e.printf("inserted %s user events, %s orders and %s coupons (rollups filled by their views) in %.1fs",
		fmtCount(int64(e.cfg.reportEvents)), fmtCount(int64(e.cfg.reportOrders)), fmtCount(int64(coupons)), took.Seconds())
	return coupons, took, nil
}

// timeQuery runs f once untimed, then runs times timed, and returns the
// median.
func timeQuery(ctx context.Context, runs int, f func() error) (time.Duration, error) {
	if err := f(); err != nil {
		return 0, err
	}
	var ds []time.Duration
	for range runs {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		t0 := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(t0))
	}
	return medianDuration(ds), nil
}

// queryRows runs query and returns its rows with the cell types of
// analytics.ReportResult, so that the two compare with reflect.DeepEqual.
func queryRows(ctx context.Context, ch *clickhouse, query string) ([][]any, error) {
	res, err := ch.conn.QueryTable(ctx, query)
	if err != nil {
		return nil, err
	}
	return res.Rows, nil
}

// The fill statements. n is the row number within the table, from 0 to
// total-1; event time grows with it across reportWindow from base. Every
// statement lists its columns.

func fillEvents(base time.Time, from, n, total int) string {
	return fmt.Sprintf(`INSERT INTO user_events
    (event_id, v, user_id, session_id, type, sku, campaign_id, ts, ts_ms,
     kafka_topic, kafka_partition, kafka_offset, ingested_at)
SELECT
    concat('e-', toString(n)),
    1,
    concat('u-', toString(intHash64(n) %% 100000)),
    concat('s-', toString(intDiv(n, 6))),
    arrayElement(['page_view', 'page_view', 'page_view', 'search', 'add_to_cart',
                  'remove_from_cart', 'checkout_started'], 1 + cityHash64(n, 1) %% 7) AS typ,
    if(typ IN ('page_view', 'add_to_cart', 'remove_from_cart'),
       concat(camp, '-sku-', toString(cityHash64(n, 2) %% 4000)), '') AS sku_,
    arrayElement(%s, 1 + cityHash64(n, 3) %% 5) AS camp,
    toDateTime(%d + intDiv(n * %d, %d)) AS t,
    toInt64(toUInt32(t)) * 1000 + toInt64(n %% 1000),
    'user-events',
    toInt32(n %% 8),
    toInt64(intDiv(n, 8)),
    now()
FROM (SELECT number + %d AS n FROM numbers(%d))`,
		fillCampaigns, base.Unix(), int64(reportWindow/time.Second), total, from, n)
}

func fillOrders(base time.Time, from, n, total int) string {
	return fmt.Sprintf(`INSERT INTO orders
    (event_id, v, order_id, user_id, amount, currency, campaign_id, priority, coupon_id,
     item_skus, item_qtys, item_prices, created_at, created_at_ms,
     kafka_topic, kafka_partition, kafka_offset, ingested_at)
SELECT
    concat('e-o-', toString(n)),
    1,
    concat('o-', toString(n)),
    concat('u-', toString(intHash64(n + 7) %% 100000)),
    arraySum(arrayMap((q, p) -> q * p, qtys, prices)),
    arrayElement(%s, ci),
    arrayElement(%s, ci) AS camp,
    arrayElement(['normal', 'normal', 'normal', 'normal', 'vip', 'urgent'], 1 + cityHash64(n, 4) %% 6),
    if(cityHash64(n, 5) %% 10 = 0, concat('c-', toString(n)), ''),
    arrayMap(i -> concat(camp, '-sku-', toString(cityHash64(n, i, 6) %% 4000)), range(lines)),
    arrayMap(i -> toInt64(1 + cityHash64(n, i, 7) %% 3), range(lines)) AS qtys,
    arrayMap(i -> toInt64(499 + cityHash64(n, i, 8) %% 99500), range(lines)) AS prices,
    toDateTime(%d + intDiv(n * %d, %d)) AS t,
    toInt64(toUInt32(t)) * 1000 + toInt64(n %% 1000),
    'orders',
    toInt32(n %% 8),
    toInt64(intDiv(n, 8)),
    now()
FROM (SELECT number + %d AS n, 1 + cityHash64(number + %d, 9) %% 5 AS ci, toUInt64(1 + cityHash64(number + %d, 10) %% 3) AS lines
      FROM numbers(%d))`,
		fillCurrencies, fillCampaigns, base.Unix(), int64(reportWindow/time.Second), total, from, from, from, n)
}

func fillCoupons(base time.Time, from, n, total int) string {
	return fmt.Sprintf(`INSERT INTO coupons
    (event_id, v, coupon_id, user_id, campaign_id, rule_id, value, currency,
     issued_at, issued_at_ms, expires_at, trigger_event_id,
     kafka_topic, kafka_partition, kafka_offset, ingested_at)
SELECT
    concat('e-c-', toString(n)),
    1,
    concat('c-', toString(n)),
    concat('u-', toString(intHash64(n + 11) %% 100000)),
    arrayElement(%s, ci),
    concat('rule-', toString(cityHash64(n, 12) %% 3)),
    toInt64(500 + cityHash64(n, 13) %% 2000),
    arrayElement(%s, ci),
    toDateTime(%d + intDiv(n * %d, %d)) AS t,
    toInt64(toUInt32(t)) * 1000,
    t + 86400,
    concat('e-', toString(n * 10)),
    'coupons',
    toInt32(n %% 8),
    toInt64(intDiv(n, 8)),
    now()
FROM (SELECT number + %d AS n, 1 + cityHash64(number + %d, 14) %% 5 AS ci FROM numbers(%d))`,
		fillCampaigns, fillCurrencies, base.Unix(), int64(reportWindow/time.Second), total, from, from, n)
}
