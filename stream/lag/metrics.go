package lag

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	descRecords = prometheus.NewDesc("surge_lag_records",
		"Records a consumer group has yet to consume on a partition, at the last sample.",
		[]string{"group", "topic", "partition"}, nil)
	descSeconds = prometheus.NewDesc("surge_lag_seconds",
		"Age of a group's oldest unconsumed record on a partition (0 with no lag), at the last sample.",
		[]string{"group", "topic", "partition"}, nil)
	descStatus = prometheus.NewDesc("surge_lag_group_status",
		"A group's status over the sampling window: 1 for the current status, 0 for the others.",
		[]string{"group", "status"}, nil)
	descRate = prometheus.NewDesc("surge_lag_consume_records_per_second",
		"Records per second a group consumed from a topic over the sampling window.",
		[]string{"group", "topic"}, nil)
)

// Collector returns a Prometheus collector exporting the monitor's last
// snapshot (nothing before the first Sample). It does not sample by itself:
// whoever serves the metrics calls Sample on a schedule. A partition whose
// lag in seconds is unknown has no surge_lag_seconds series.
func (m *Monitor) Collector() prometheus.Collector { return collector{m} }

// Register registers the monitor's collector with reg.
func (m *Monitor) Register(reg prometheus.Registerer) error {
	return reg.Register(m.Collector())
}

type collector struct{ m *Monitor }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRecords
	ch <- descSeconds
	ch <- descStatus
	ch <- descRate
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	snap, ok := c.m.Last()
	if !ok {
		return
	}
	for _, g := range snap.Groups {
		for _, s := range Statuses {
			v := 0.0
			if g.Status == s {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descStatus, prometheus.GaugeValue, v, g.Group, string(s))
		}
		for _, p := range g.Partitions {
			part := strconv.Itoa(int(p.Partition))
			if p.LagRecords >= 0 {
				ch <- prometheus.MustNewConstMetric(descRecords, prometheus.GaugeValue, float64(p.LagRecords), g.Group, p.Topic, part)
			}
			if p.LagSeconds >= 0 {
				ch <- prometheus.MustNewConstMetric(descSeconds, prometheus.GaugeValue, p.LagSeconds, g.Group, p.Topic, part)
			}
		}
		for _, t := range g.Topics() {
			ch <- prometheus.MustNewConstMetric(descRate, prometheus.GaugeValue, g.TopicRate(t), g.Group, t)
		}
	}
}
