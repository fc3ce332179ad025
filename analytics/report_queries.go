package analytics

import "strings"

// The named reports. Every query takes its inputs as bound parameters
// ('?', filled in by clickhouse-go with quoting and escaping); only fixed
// column names from this file are ever spliced into SQL text.
var reports = []report{
	{
		name:   "campaign-summary",
		desc:   "per campaign and currency: orders, GMV, buyers, average order value, coupons issued (in that currency) and redeemed",
		money:  map[string]string{"gmv": "currency", "avg_order_value": "currency"},
		rollup: true,
		// Buyers come from campaign_buyers (report_buyers.go): merging the
		// per-minute uniqExact states of orders_per_minute is exact too,
		// but costs a hash-set insert per shopper and minute.
		queryEnv: func(p ReportParams, env queryEnv) (string, []any) {
			ow, oargs := p.where("campaign_id", "minute")
			bq, bargs := buyersQuery(p, env)
			if env.kept {
				bq, bargs = `
        SELECT '' AS campaign_id, '' AS currency, toUInt64(0) AS buyers`, nil
			}
			cw, cargs := p.where("campaign_id", "minute")
			// ALL FULL JOIN keeps the campaign's currencies that have
			// coupons but no orders yet (and the other way round); coupons
			// count on the row of their own currency.
			return `
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
    SELECT campaign_id, currency, orders, gmv, buyers, coupons_redeemed
    FROM
    (
        SELECT campaign_id, currency,
            countMerge(orders) AS orders,
            sumMerge(gmv) AS gmv,
            sumMerge(coupon_orders) AS coupons_redeemed
        FROM orders_per_minute` + ow + `
        GROUP BY campaign_id, currency
    )
    ANY LEFT JOIN
    (` + bq + `
    ) USING (campaign_id, currency)
)
ALL FULL OUTER JOIN
(
    SELECT campaign_id, currency, countMerge(issued) AS coupons_issued
    FROM coupons_currency_per_minute` + cw + `
    GROUP BY campaign_id, currency
) USING (campaign_id, currency)
ORDER BY campaign, currency`, append(append(oargs, bargs...), cargs...)
		},
	},
	{
		name:   "gmv-per-minute",
		desc:   "per minute, campaign and currency: orders and GMV",
		money:  map[string]string{"gmv": "currency"},
		rollup: true,
		query: func(p ReportParams) (string, []any) {
			w, args := p.where("campaign_id", "minute")
			return `
SELECT
    minute,
    campaign_id AS campaign,
    currency,
    countMerge(orders) AS orders,
    sumMerge(gmv) AS gmv
FROM orders_per_minute` + w + `
GROUP BY minute, campaign_id, currency
ORDER BY minute, campaign, currency`, args
		},
	},
	{
		name: "funnel",
		desc: "per campaign: users reaching page_view, add_to_cart, checkout_started, then an order, within one hour",
		// windowFunnel follows each user's events in time order and returns
		// how many consecutive steps they completed with the whole chain
		// inside the window, so a step only counts after the step before
		// it. The window is one hour: on a peak day a shopper who views,
		// adds to cart, checks out and pays does it within one visit, and
		// an hour covers a slow visit without tying together visits hours
		// apart. Orders come from the orders table as the last step, since
		// placing an order is not a user event.
		query: func(p ReportParams) (string, []any) {
			ew, eargs := p.where("campaign_id", "ts", "type IN ('page_view', 'add_to_cart', 'checkout_started')")
			ow, oargs := p.where("campaign_id", "created_at")
			return `
SELECT
    campaign_id AS campaign,
    countIf(level >= 1) AS page_view,
    countIf(level >= 2) AS add_to_cart,
    countIf(level >= 3) AS checkout_started,
    countIf(level >= 4) AS ordered,
    if(page_view = 0, 0., round(ordered / page_view, 4)) AS conversion
FROM
(
    SELECT campaign_id, user_id,
        windowFunnel(3600)(ts, step = 'page_view', step = 'add_to_cart',
            step = 'checkout_started', step = 'order') AS level
    FROM
    (
        SELECT campaign_id, user_id, ts, type AS step
        FROM user_events` + ew + `
        UNION ALL
        SELECT campaign_id, user_id, created_at AS ts, 'order' AS step
        FROM orders` + ow + `
    )
    GROUP BY campaign_id, user_id
)
WHERE level >= 1
GROUP BY campaign_id
ORDER BY campaign`, append(eargs, oargs...)
		},
	},
	{
		name:  "top-skus",
		desc:  "the 20 SKUs with the most revenue: units, revenue and orders, per currency",
		money: map[string]string{"revenue": "currency"},
		query: func(p ReportParams) (string, []any) {
			w, args := p.where("campaign_id", "created_at")
			return `
SELECT
    sku,
    currency,
    sum(qty) AS units,
    sum(qty * price) AS revenue,
    uniqExact(order_id) AS orders
FROM orders
ARRAY JOIN item_skus AS sku, item_qtys AS qty, item_prices AS price` + w + `
GROUP BY sku, currency
ORDER BY revenue DESC, units DESC, sku, currency
LIMIT 20`, args
		},
	},
	couponPerformance,
	funnelEvents,
	couponsPerRule,
}

// where returns a WHERE clause filtering on p, with campaignCol and timeCol
// as the filtered columns, and the values to bind; both are empty when
// there is no condition. Times are bound as Unix seconds: timeCol >= From
// and timeCol < To. fixed are further conditions, constant SQL text.
func (p ReportParams) where(campaignCol, timeCol string, fixed ...string) (string, []any) {
	var (
		conds = fixed
		args  []any
	)
	if p.Campaign != "" {
		conds = append(conds, campaignCol+" = ?")
		args = append(args, p.Campaign)
	}
	if !p.From.IsZero() {
		conds = append(conds, timeCol+" >= toDateTime(?)")
		args = append(args, dateTime(p.From).Unix())
	}
	if !p.To.IsZero() {
		conds = append(conds, timeCol+" < toDateTime(?)")
		args = append(args, dateTime(p.To).Unix())
	}
	if len(conds) == 0 {
		return "", nil
	}
	return "\n    WHERE " + strings.Join(conds, " AND "), args
}
