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

// budgetPartitions is the partition count budgets are split over: the
// configured one, else the inputs' count before their first recorded
// resize. A resize adds partitions whose shoppers came from the old ones;
// giving the new partitions shares of their own would let the budget be
// spent again, so they get none (rules.Share). Without the control topic
// the current count is used, with a warning.
func (r *Runner) budgetPartitions(n int32) int32 {
	if r.cfg.budgetParts > 0 {
		return r.cfg.budgetParts
	}
	if r.gate == nil {
		r.cfg.logger.Warn("control topic unavailable: campaign budgets are split over the current partition count; after a resize of the inputs that may overspend a budget", "partitions", n)
		return n
	}
	st := r.gate.State()
	base := n
	for _, t := range r.inputs() {
		base = min(base, st.BaseCount(t, r.topicIDs[t], n))
	}
	if base < n {
		r.cfg.logger.Warn("inputs were resized: campaign budgets stay split over the partition count before the resize; shoppers on the added partitions get no budgeted coupons (see --budget-partitions)",
			"partitions", n, "budget_partitions", base)
	}
	return base
}
