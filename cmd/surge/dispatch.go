package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/dispatch"
)

const dispatchLong = `Deliver the orders topics to one downstream service as a consumer group,
at least once and in per-user order.

Each service (inventory, payment, notification, ...) is its own --group and so
receives every order (fan-out); instances with the same --group share the
partitions. Records go to a webhook (--to URL: POST of the event JSON with
surge-event-id, surge-topic, surge-partition, surge-offset, surge-attempt and
Idempotency-Key headers; 2xx = done, 408/429/5xx/timeouts are retried, other
4xx dead-letter the record at once) or to a built-in simulated service
(--simulate inventory|payment|notify) for demos. Every record is first checked
with the same schema rules as the gateway and the sink: an invalid one (not
JSON, a missing field, a duplicate key, ...) never reaches the service; it goes
to the dead-letter topic at once with the reason and its source topic,
partition and offset, and is counted in surge_dispatch_invalid_total.

Within a partition, records of different users run concurrently (up to
--max-in-flight-partition, --max-in-flight in total); one user's records run
one at a time, in order. Offsets are committed only up to the first record not
yet done, every --commit-interval; the records done above it travel in the
commit metadata, so a crash redelivers only what was done since the last
commit. A failing record is parked in the group's retry topic
("<group>.retry.<topic>") with exponential backoff and jitter; the user's later
records wait behind it there, other users go on. After --max-attempts or
--max-age it goes to the dead-letter topic (see 'surge dlq'), and the user's
records proceed. Vip and urgent orders (topic orders-priority) are dispatched
ahead of normal ones, with at least 1 in --normal-share handler starts for the
normal lane. A record with a surge-not-before header (RFC 3339) is dispatched
no earlier than that.`

// dispatchOptions are the command's flags.
type dispatchOptions struct {
	group                string
	to                   string
	timeout              time.Duration
	simulate             string
	simMedian            time.Duration
	simP99               time.Duration
	simFailRate          float64
	simPermanentRate     float64
	topics               []string
	priorityTopics       []string
	deadLetterTopic      string
	maxInFlight          int
	maxInFlightPartition int
	maxAttempts          int
	maxAge               time.Duration
	backoff              time.Duration
	maxBackoff           time.Duration
	normalShare          int
	commitInterval       time.Duration
	revokeTimeout        time.Duration
	sessionTimeout       time.Duration
	rebalanceTimeout     time.Duration
	metricsAddr          string
}

func newDispatchCmd(a *app) *cobra.Command {
	o := &dispatchOptions{}
	cmd := &cobra.Command{
		Use:   "dispatch --group NAME (--to URL | --simulate SERVICE)",
		Short: "Deliver orders to a service (webhook or simulated) at least once, in per-user order",
		Long:  dispatchLong,
		Example: `  surge dispatch --group payment --to http://payment.internal/api/orders
  surge dispatch --group inventory --simulate inventory --metrics-addr :9465
  surge dispatch --group notify --simulate notify --sim-fail-rate 0.2 --max-attempts 5`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDispatch(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	a.addKafkaFlags(f)
	f.StringVar(&o.group, "group", "", "consumer group: one per downstream service (required)")
	f.StringVar(&o.to, "to", "", "webhook URL to POST each event to")
	f.DurationVar(&o.timeout, "timeout", dispatch.DefaultWebhookTimeout, "webhook request timeout")
	f.StringVar(&o.simulate, "simulate", "", "simulated service instead of a webhook: "+strings.Join(dispatch.SimulationNames(), ", "))
	f.DurationVar(&o.simMedian, "sim-median", 0, "simulated latency median (0: the service's default)")
	f.DurationVar(&o.simP99, "sim-p99", 0, "simulated latency 99th percentile (0: the service's default)")
	f.Float64Var(&o.simFailRate, "sim-fail-rate", -1, "simulated retryable failure rate 0..1 (-1: the service's default)")
	f.Float64Var(&o.simPermanentRate, "sim-permanent-rate", -1, "simulated permanent failure rate 0..1 (-1: the service's default)")
	f.StringSliceVar(&o.topics, "topics", []string{stream.DefaultTopics().Orders}, "normal-lane topics")
	f.StringSliceVar(&o.priorityTopics, "priority-topics", []string{stream.DefaultTopics().OrdersPriority}, "priority-lane topics, drained first")
	f.StringVar(&o.deadLetterTopic, "dead-letter-topic", stream.DefaultTopics().DeadLetters, "dead-letter topic")
	f.IntVar(&o.maxInFlight, "max-in-flight", dispatch.DefaultMaxInFlight, "handlers running at once, in total")
	f.IntVar(&o.maxInFlightPartition, "max-in-flight-partition", dispatch.DefaultMaxInFlightPartition, "handlers running at once per partition")
	f.IntVar(&o.maxAttempts, "max-attempts", dispatch.DefaultMaxAttempts, "handler attempts before a record is dead-lettered")
	f.DurationVar(&o.maxAge, "max-age", dispatch.DefaultMaxAge, "time after the first failure before a record is dead-lettered")
	f.DurationVar(&o.backoff, "backoff", dispatch.DefaultBackoffBase, "first retry backoff; doubles per attempt, with jitter")
	f.DurationVar(&o.maxBackoff, "max-backoff", dispatch.DefaultBackoffMax, "retry backoff cap")
	f.IntVar(&o.normalShare, "normal-share", dispatch.DefaultNormalShare, "starvation bound: the normal lane gets at least 1 in N handler starts")
	f.DurationVar(&o.commitInterval, "commit-interval", dispatch.DefaultCommitInterval, "how often done offsets are committed")
	f.DurationVar(&o.revokeTimeout, "revoke-timeout", dispatch.DefaultRevokeTimeout, "how long a rebalance waits for running handlers")
	f.DurationVar(&o.sessionTimeout, "session-timeout", dispatch.DefaultSessionTimeout, "consumer-group session timeout")
	f.DurationVar(&o.rebalanceTimeout, "rebalance-timeout", dispatch.DefaultRebalanceTimeout, "consumer-group rebalance timeout")
	f.StringVar(&o.metricsAddr, "metrics-addr", "", "serve Prometheus /metrics on this address (e.g. :9465)")
	return cmd
}

func runDispatch(ctx context.Context, a *app, o *dispatchOptions) error {
	group := o.group
	if group == "" {
		return fmt.Errorf("%w: --group is required", errUsage)
	}
	var h dispatch.Handler
	to, sim := o.to, o.simulate
	switch {
	case to != "" && sim != "":
		return fmt.Errorf("%w: give --to or --simulate, not both", errUsage)
	case to != "":
		h = dispatch.Webhook(to, o.timeout, nil)
	case sim != "":
		s, ok := dispatch.Simulations[sim]
		if !ok {
			return fmt.Errorf("%w: --simulate %q: want one of %s", errUsage, sim, strings.Join(dispatch.SimulationNames(), ", "))
		}
		if d := o.simMedian; d > 0 {
			s.Median = d
		}
		if d := o.simP99; d > 0 {
			s.P99 = d
		}
		if r := o.simFailRate; r >= 0 {
			s.FailRate = r
		}
		if r := o.simPermanentRate; r >= 0 {
			s.PermanentRate = r
		}
		h = s.Handler()
	default:
		return fmt.Errorf("%w: give --to URL or --simulate SERVICE", errUsage)
	}
	kc, release, err := a.kafka(ctx)
	if err != nil {
		return err
	}
	defer release()
	reg := newRegistry()
	if err := a.serveMetrics(ctx, o.metricsAddr, reg); err != nil {
		return err
	}
	kc.ExtraOpts = append(kc.ExtraOpts, kafkaMetrics(reg))
	d, err := dispatch.New(
		dispatch.WithClient(kc),
		dispatch.WithGroup(group),
		dispatch.WithHandler(h),
		dispatch.WithTopics(o.topics, o.priorityTopics...),
		dispatch.WithDeadLetterTopic(o.deadLetterTopic),
		dispatch.WithMaxInFlight(o.maxInFlight, o.maxInFlightPartition),
		dispatch.WithRetryBudget(o.maxAttempts, o.maxAge),
		dispatch.WithBackoff(o.backoff, o.maxBackoff),
		dispatch.WithNormalShare(o.normalShare),
		dispatch.WithCommitInterval(o.commitInterval),
		dispatch.WithRevokeTimeout(o.revokeTimeout),
		dispatch.WithGroupTimeouts(o.sessionTimeout, o.rebalanceTimeout),
		dispatch.WithLogger(a.logger),
		dispatch.WithRegisterer(reg),
	)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	a.logger.Info("dispatch running", "group", group, "brokers", kc.Brokers, "to", to, "simulate", sim)
	t0 := time.Now()
	if err := d.Run(ctx); err != nil {
		return err
	}
	st := d.Stats()
	a.logger.Info("dispatch stopped", "group", group, "took", time.Since(t0).Round(time.Millisecond),
		"processed", st.Processed, "failed", st.Failed, "retried", st.Retried, "dead_lettered", st.DeadLettered,
		"stale_dropped", st.StaleDropped, "lease_lapses", st.LeaseLapses)
	return nil
}
