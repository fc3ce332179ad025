package main

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/surgeio/surge/stream"

	"github.com/surgeio/surge/stream/sink"
)

type sinkOpts struct {
	group         string
	batchRows     int
	batchInterval time.Duration
	metricsAddr   string
	session       time.Duration
	rebalance     time.Duration
	dedupWindow   time.Duration
	shutdown      time.Duration
}

// addSinkFlags adds the sink's flags (surge sink and surge up), bound to o.
func addSinkFlags(cmd *cobra.Command, o *sinkOpts) {
	f := cmd.Flags()
	f.StringVar(&o.group, "group", sink.DefaultGroup, "consumer group of the sink")
	f.IntVar(&o.batchRows, "batch-rows", 200_000, "max rows per ClickHouse insert (at most 1,000,000)")
	f.DurationVar(&o.batchInterval, "batch-interval", 500*time.Millisecond, "max time a record waits before its batch is written")
	f.DurationVar(&o.session, "session-timeout", 10*time.Second, "consumer-group session timeout: how soon a dead instance's partitions move")
	f.DurationVar(&o.rebalance, "rebalance-timeout", 30*time.Second, "how long a rebalance waits for members to rejoin")
	f.DurationVar(&o.dedupWindow, "dedup-window", sink.DefaultDedupWindow, "drop copies of an event_id stored at most this long ago (0 turns de-duplication off)")
	f.DurationVar(&o.shutdown, "shutdown-timeout", 30*time.Second, "on SIGTERM, how long to go on writing what the sink holds before giving it up uncommitted")
}

func newSinkCmd(a *app) *cobra.Command {
	o := &sinkOpts{}
	cmd := &cobra.Command{
		Use:   "sink",
		Short: "Stream orders, user events and coupons into ClickHouse, exactly once",
		Long: `Consume the orders, user-events and coupons topics in a consumer group and
write them to ClickHouse raw tables in batches.

Exactly once: after a kill -9 at any moment, a rebalance between sink instances
or a ClickHouse restart, every record is in ClickHouse once. Rows carry their
Kafka topic, partition and offset; on taking a partition the sink reads what
ClickHouse already holds and skips it. Run several instances with the same
--group to share the partitions. Records that fail validation go to the
dead-letter topic (and the sink_rejects table) with the reason; the sink goes on.

Each event once: a record whose event_id was stored within --dedup-window
(default 24h) is a copy (a producer's retry, a re-send) and goes to the
sink_duplicates table, naming where its original is, instead of its table.`,
		Example: `  surge sink
  surge sink --brokers kafka-1:9092 --clickhouse ch-1:9000 --metrics-addr :9464`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSink(cmd.Context(), a, *o)
		},
	}
	addSinkFlags(cmd, o)
	a.addKafkaFlags(cmd.Flags())
	a.addClickHouseFlags(cmd.Flags())
	cmd.Flags().StringVar(&o.metricsAddr, "metrics-addr", "", "serve Prometheus /metrics on this address (e.g. :9464)")
	return cmd
}

func runSink(ctx context.Context, a *app, o sinkOpts) error {
	kc, releaseKafka, err := a.kafka(ctx)
	if err != nil {
		return err
	}
	defer releaseKafka()
	ch, releaseCH, err := a.clickhouse(ctx)
	if err != nil {
		return err
	}
	defer releaseCH()
	reg := newRegistry()
	if err := a.serveMetrics(ctx, o.metricsAddr, reg); err != nil {
		return err
	}
	kc.ExtraOpts = append(kc.ExtraOpts, kafkaMetrics(reg))
	s, err := sink.New(ch, o.sinkOptions(a, kc, reg)...)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	a.logger.Info("sink running", "group", o.group, "brokers", kc.Brokers)
	if err := s.Run(ctx); err != nil {
		return err
	}
	st := s.Stats()
	a.logger.Info("sink stopped", "rows", st.Rows, "rejected", st.Rejected, "duplicates", st.Duplicates, "replayed", st.Replayed, "batches", st.Batches)
	return nil
}

func (o sinkOpts) sinkOptions(a *app, kc stream.ClientConfig, reg prometheus.Registerer) []sink.Opt {
	return []sink.Opt{
		sink.WithClient(kc),
		sink.WithGroup(o.group),
		sink.WithBatchRows(o.batchRows),
		sink.WithBatchInterval(o.batchInterval),
		sink.WithSessionTimeout(o.session),
		sink.WithRebalanceTimeout(o.rebalance),
		sink.WithDedupWindow(o.dedupWindow),
		sink.WithShutdownTimeout(o.shutdown),
		sink.WithLogger(a.logger),
		sink.WithRegisterer(reg),
	}
}
