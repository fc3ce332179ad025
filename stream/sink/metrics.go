package sink

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	rows             *prometheus.CounterVec
	replayed         prometheus.Counter
	deadLetters      prometheus.Counter
	deadLetterErrors prometheus.Counter
	staleBatches     prometheus.Counter
	writeErrors      prometheus.Counter
	commitErrors     prometheus.Counter
	fetchErrors      prometheus.Counter
	writeSeconds     prometheus.Histogram
	batchRows        prometheus.Histogram
	freshness        prometheus.Histogram
	duplicates       *prometheus.CounterVec
	dedupLoads       prometheus.Counter
	dedupLookups     prometheus.Counter
	mismatches       *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "surge_sink_rows_written_total", Help: "Rows written to ClickHouse, by table.",
		}, []string{"table"}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "surge_sink_records_replayed_total", Help: "Records skipped because ClickHouse already held them (after a restart or rebalance).",
		}),
		deadLetters: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "surge_sink_dead_letters_total", Help: "Records that failed validation and went to the dead-letter topic.",
		}),
		deadLetterErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "surge_sink_dead_letter_errors_total", Help: "Failed dead-letter produce attempts (each is retried; a batch's rows wait for its dead letters).",
		}),
		staleBatches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "surge_sink_stale_batches_total", Help: "Batches dropped because the group had given their partitions to other members (a paused or cut-off instance).",
		}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "surge_sink_write_errors_total", Help: "Failed ClickHouse batch writes (each is retried).",
		}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "surge_sink_commit_errors_total", Help: "Failed Kafka offset commits (not fatal).",
		}),
		fetchErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "surge_sink_fetch_errors_total", Help: "Kafka fetch errors.",
		}),
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "surge_sink_write_seconds", Help: "Time to write one batch to ClickHouse.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		batchRows: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "surge_sink_batch_rows", Help: "Rows per written batch.",
			Buckets: prometheus.ExponentialBuckets(10, 4, 8),
		}),
		freshness: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "surge_sink_freshness_seconds", Help: "Time from a record's Kafka timestamp to its batch being written to ClickHouse.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "surge_sink_duplicates_total", Help: "Copies of an event stored within the dedup window, written to sink_duplicates instead of their table, by topic.",
		}, []string{"topic"}),
		dedupLoads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "surge_sink_dedup_scope_loads_total", Help: "Dedup scopes whose window of event ids was read from ClickHouse (on first use after an assignment).",
		}),
		dedupLookups: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "surge_sink_dedup_lookups_total", Help: "Event hashes checked against the claims in ClickHouse: found in their scope's window (a copy, or a rare false hit), or from a record outside its scope.",
		}),
		mismatches: newMismatchCounter(),
	}
	if reg != nil {
		reg.MustRegister(m.rows, m.replayed, m.deadLetters, m.deadLetterErrors, m.staleBatches, m.writeErrors, m.commitErrors,
			m.fetchErrors, m.writeSeconds, m.batchRows, m.freshness, m.duplicates, m.dedupLoads, m.dedupLookups, m.mismatches)
	}
	return m
}

func (m *metrics) observeWrite(j *job, took time.Duration) {
	m.writeSeconds.Observe(took.Seconds())
	m.batchRows.Observe(float64(len(j.entries)))
	counts := make(map[string]int)
	for _, e := range j.entries {
		if !e.claimOnly {
			counts[string(e.table)]++
		}
	}
	for t, n := range counts {
		m.rows.WithLabelValues(t).Add(float64(n))
	}
}
