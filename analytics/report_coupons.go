package analytics

// couponPerformance is the coupon-performance report: per campaign, rule and
// coupon currency, the coupons issued and their face value, how many were
// redeemed (an order carries the coupon id), the redemption rate, the revenue
// of the redeeming orders (in the orders' currency, normally the campaign's)
// and the cost (face value of the redeemed coupons). The table output
// formats all three money columns in the row's (coupon) currency.
//
// Each coupon is joined with its redeeming orders through a per-coupon
// aggregate, so a coupon redeemed on two orders (an application bug) counts
// once as redeemed while both orders' revenue counts.
var couponPerformance = report{
	name:  "coupon-performance",
	desc:  "per campaign and rule: coupons issued, redeemed, redemption rate, revenue of redeeming orders, cost",
	money: map[string]string{"issued_value": "currency", "revenue": "currency", "cost": "currency"},
	query: func(p ReportParams) (string, []any) {
		w, args := p.where("campaign_id", "issued_at")
		return `
SELECT
    campaign_id AS campaign,
    rule_id AS rule,
    currency,
    count() AS issued,
    sum(value) AS issued_value,
    countIf(redeeming_orders > 0) AS redeemed,
    if(issued = 0, 0., round(redeemed / issued, 4)) AS redemption_rate,
    sum(revenue) AS revenue,
    sumIf(value, redeeming_orders > 0) AS cost
FROM
(
    SELECT campaign_id, rule_id, currency, coupon_id, value
    FROM coupons` + w + `
)
ANY LEFT JOIN
(
    SELECT coupon_id, count() AS redeeming_orders, sum(amount) AS revenue
    FROM orders
    WHERE coupon_id != ''
    GROUP BY coupon_id
) USING coupon_id
GROUP BY campaign_id, rule_id, currency
ORDER BY campaign, rule, currency`, args
	},
}
