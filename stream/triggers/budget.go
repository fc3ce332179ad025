package triggers

import "github.com/prometheus/client_golang/prometheus"

// newBudgetGauge is surge_triggers_budget_remaining_ratio: per rule with a
// budget, the share of this instance's part of the budget (the shares of
// the input partitions it owns) that is left, the smaller of the coupon
// and value ratios. Each partition spends only its own share, so when
// this falls to 0 the shoppers hashed to these partitions get no more
// coupons from the rule; alert on the minimum over instances.
func newBudgetGauge() *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "surge_triggers_budget_remaining_ratio",
		Help: "Share (0..1) of the budget of the partitions this instance owns that is not spent yet, by campaign and rule."},
		[]string{"campaign", "rule"})
}

// observeBudgets sets the budget gauge from the owned partitions' spend.
// It runs after a commit, so it reports committed spend.
func (r *Runner) observeBudgets() {
	set := r.set.Load()
	if set == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.metrics.budget.Reset()
	if len(r.parts) == 0 {
		return
	}
	for _, rule := range set.Enabled() {
		if rule.Budget.Coupons <= 0 && rule.Budget.Value <= 0 {
			continue
		}
		var cShare, cSpent, vShare, vSpent int64
		for _, p := range r.parts {
			a, b, c, d := p.BudgetShare(rule)
			cShare, cSpent, vShare, vSpent = cShare+a, cSpent+b, vShare+c, vSpent+d
		}
		left := 1.0
		if cShare > 0 {
			left = min(left, 1-float64(cSpent)/float64(cShare))
		}
		if vShare > 0 {
			left = min(left, 1-float64(vSpent)/float64(vShare))
		}
		r.metrics.budget.WithLabelValues(rule.Campaign.ID, rule.ID).Set(max(left, 0))
	}
}
