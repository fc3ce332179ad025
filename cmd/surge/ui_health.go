package main

import (
	"github.com/surgeio/surge/analytics/web"
	"github.com/surgeio/surge/stream/triggers/rules"
)

// ruleBudgets lists the enabled rules' budgets for the page.
func ruleBudgets(set *rules.Set) []web.Budget {
	var out []web.Budget
	for _, r := range set.Enabled() {
		b := web.Budget{Rule: r.ID, Coupons: r.Budget.Coupons, Value: r.Budget.Value, Currency: r.Coupon.Currency}
		if r.Campaign != nil {
			b.Campaign = r.Campaign.ID
		}
		out = append(out, b)
	}
	return out
}
