package triggers

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	records        prometheus.Counter
	late           prometheus.Counter
	duplicates     prometheus.Counter
	invalid        prometheus.Counter
	couponErrors   prometheus.Counter
	issued         *prometheus.CounterVec
	value          *prometheus.CounterVec
	commits        prometheus.Counter
	aborts         prometheus.Counter
	txnSeconds     prometheus.Histogram
	restoreSeconds prometheus.Histogram
	users          prometheus.Gauge
	reloads        *prometheus.CounterVec
	budget         *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		records: prometheus.NewCounter(prometheus.CounterOpts{Name: "surge_triggers_records_total",
			Help: "Input records consumed by the triggers (committed transactions only)."}),
		late: prometheus.NewCounter(prometheus.CounterOpts{Name: "surge_triggers_late_events_total",
			Help: "Events older than the watermark minus the allowed lateness; recorded on the dead-letter topic with reason late."}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{Name: "surge_triggers_duplicate_events_total",
			Help: "Copies of an event (same event id) that already changed its user's state: not applied (committed transactions only)."}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{Name: "surge_triggers_invalid_records_total",
			Help: "Records that did not decode; the sink dead-letters them."}),
		couponErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "surge_triggers_coupon_errors_total",
			Help: "Coupons the rules issued that failed to encode; never written (see the log for the rule and user)."}),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "surge_triggers_coupons_issued_total",
			Help: "Coupons issued (committed), by campaign and rule."}, []string{"campaign", "rule"}),
		value: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "surge_triggers_coupon_value_total",
			Help: "Value of the coupons issued, in minor units, by campaign, rule and currency."}, []string{"campaign", "rule", "currency"}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{Name: "surge_triggers_transactions_committed_total",
			Help: "Kafka transactions committed."}),
		aborts: prometheus.NewCounter(prometheus.CounterOpts{Name: "surge_triggers_transactions_aborted_total",
			Help: "Kafka transactions aborted (rebalance or failure); their input is processed again."}),
		txnSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "surge_triggers_batch_seconds",
			Help: "Time from poll to the end of the batch's transaction.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		restoreSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "surge_triggers_restore_seconds",
			Help: "Time to restore assigned partitions' state from the changelog.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)}),
		users: prometheus.NewGauge(prometheus.GaugeOpts{Name: "surge_triggers_users",
			Help: "Users with state in this instance."}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "surge_triggers_rule_reloads_total",
			Help: "Rules file reloads, by result (applied or rejected)."}, []string{"result"}),
		budget: newBudgetGauge(),
	}
	if reg != nil {
		reg.MustRegister(m.records, m.late, m.duplicates, m.invalid, m.couponErrors, m.issued, m.value, m.commits, m.aborts, m.txnSeconds,
			m.restoreSeconds, m.users, m.reloads, m.budget)
	}
	return m
}

func (m *metrics) observeCommit(issued map[issueKey]issueSum, st Stats) {
	m.commits.Inc()
	m.records.Add(float64(st.Records))
	m.late.Add(float64(st.Late))
	m.duplicates.Add(float64(st.Duplicates))
	m.invalid.Add(float64(st.Invalid))
	m.couponErrors.Add(float64(st.CouponErrors))
	for k, sum := range issued {
		m.issued.WithLabelValues(k.campaign, k.rule).Add(float64(sum.n))
		m.value.WithLabelValues(k.campaign, k.rule, k.currency).Add(float64(sum.value))
	}
}
