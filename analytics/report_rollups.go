package analytics

import (
	"context"
	"fmt"
)

// funnelEvents is the funnel-events report: per campaign, the page views,
// add-to-carts and checkouts started (events) and the orders, all read from
// the per-minute rollups. Unlike funnel, which follows each shopper through
// the steps with windowFunnel over the raw tables, it counts events, so a
// shopper who views ten pages counts ten times; it costs milliseconds at
// any volume, which is what a live page needs.
var funnelEvents = report{
	name:   "funnel-events",
	desc:   "per campaign, from the rollups: page_view, add_to_cart and checkout_started events, and orders",
	rollup: true,
	query: func(p ReportParams) (string, []any) {
		ew, eargs := p.where("campaign_id", "minute", "type IN ('page_view', 'add_to_cart', 'checkout_started')")
		ow, oargs := p.where("campaign_id", "minute")
		return `
SELECT
    campaign_id AS campaign,
    page_view,
    add_to_cart,
    checkout_started,
    orders
FROM
(
    SELECT campaign_id,
        sumIf(events, type = 'page_view') AS page_view,
        sumIf(events, type = 'add_to_cart') AS add_to_cart,
        sumIf(events, type = 'checkout_started') AS checkout_started
    FROM events_per_minute` + ew + `
    GROUP BY campaign_id
)
ALL FULL OUTER JOIN
(
    SELECT campaign_id, countMerge(orders) AS orders
    FROM orders_per_minute` + ow + `
    GROUP BY campaign_id
) USING campaign_id
ORDER BY campaign`, append(eargs, oargs...)
	},
}

// couponsPerRule is the coupons-per-rule report: per campaign and rule, the
// coupons issued and their face value (minor units of the rule's coupon
// currency, which the rollup does not keep), from the rollups.
var couponsPerRule = report{
	name:   "coupons-per-rule",
	desc:   "per campaign and rule, from the rollups: coupons issued and their face value (minor units)",
	rollup: true,
	query: func(p ReportParams) (string, []any) {
		w, args := p.where("campaign_id", "minute")
		return `
SELECT
    campaign_id AS campaign,
    rule_id AS rule,
    countMerge(issued) AS issued,
    sumMerge(value) AS issued_value
FROM coupons_per_minute` + w + `
GROUP BY campaign_id, rule_id
ORDER BY campaign, rule`, args
	},
}

// Campaigns lists the campaigns that have orders or coupons, from the
// rollups, sorted.
func (c *Conn) Campaigns(ctx context.Context) ([]string, error) {
	res, err := c.QueryTable(ctx, `
SELECT campaign_id FROM
(
    SELECT campaign_id FROM orders_per_minute GROUP BY campaign_id
    UNION ALL
    SELECT campaign_id FROM coupons_per_minute GROUP BY campaign_id
)
GROUP BY campaign_id
ORDER BY campaign_id`)
	if err != nil {
		return nil, fmt.Errorf("list campaigns: %w", err)
	}
	out := make([]string, 0, len(res.Rows))
	for _, r := range res.Rows {
		if s, _ := r[0].(string); s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}
