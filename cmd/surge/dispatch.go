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

func newDispatchCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dispatch --group NAME (--to URL | --simulate SERVICE)",
		Short: "Deliver orders to a service (webhook or simulated) at least once, in per-user order",
		Long:  dispatchLong,
		Example: `  surge dispatch --group payment --to http://payment.internal/api/orders
  surge dispatch --group inventory --simulate inventory --metrics-addr :9465
  surge dispatch --group notify --simulate notify --sim-fail-rate 0.2 --max-attempts 5`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDispatch(cmd.Context(), a)
		},
	}
	f := cmd.Flags()
	a.addKafkaFlags(f)
	f.String("group", "", "consumer group: one per downstream service (required)")
	f.String("to", "", "webhook URL to POST each event to")
	f.Duration("timeout", dispatch.DefaultWebhookTimeout, "webhook request timeout")
	f.String("simulate", "", "simulated service instead of a webhook: "+strings.Join(dispatch.SimulationNames(), ", "))
	f.Duration("sim-median", 0, "simulated latency median (0: the service's default)")
	f.Duration("sim-p99", 0, "simulated latency 99th percentile (0: the service's default)")
	f.Float64("sim-fail-rate", -1, "simulated retryable failure rate 0..1 (-1: the service's default)")
	f.Float64("sim-permanent-rate", -1, "simulated permanent failure rate 0..1 (-1: the service's default)")
	f.StringSlice("topics", []string{stream.DefaultTopics().Orders}, "normal-lane topics")
	f.StringSlice("priority-topics", []string{stream.DefaultTopics().OrdersPriority}, "priority-lane topics, drained first")
	f.String("dead-letter-topic", stream.DefaultTopics().DeadLetters, "dead-letter topic")
	f.Int("max-in-flight", dispatch.DefaultMaxInFlight, "handlers running at once, in total")
	f.Int("max-in-flight-partition", dispatch.DefaultMaxInFlightPartition, "handlers running at once per partition")
	f.Int("max-attempts", dispatch.DefaultMaxAttempts, "handler attempts before a record is dead-lettered")
	f.Duration("max-age", dispatch.DefaultMaxAge, "time after the first failure before a record is dead-lettered")
	f.Duration("backoff", dispatch.DefaultBackoffBase, "first retry backoff; doubles per attempt, with jitter")
	f.Duration("max-backoff", dispatch.DefaultBackoffMax, "retry backoff cap")
	f.Int("normal-share", dispatch.DefaultNormalShare, "starvation bound: the normal lane gets at least 1 in N handler starts")
	f.Duration("commit-interval", dispatch.DefaultCommitInterval, "how often done offsets are committed")
	f.Duration("revoke-timeout", dispatch.DefaultRevokeTimeout, "how long a rebalance waits for running handlers")
	f.Duration("session-timeout", dispatch.DefaultSessionTimeout, "consumer-group session timeout")
	f.Duration("rebalance-timeout", dispatch.DefaultRebalanceTimeout, "consumer-group rebalance timeout")
	f.String("metrics-addr", "", "serve Prometheus /metrics on this address (e.g. :9465)")
	return cmd
}

func runDispatch(ctx context.Context, a *app) error {
	v := a.v
	group := v.GetString("group")
	if group == "" {
		return fmt.Errorf("%w: --group is required", errUsage)
	}
	var h dispatch.Handler
	to, sim := v.GetString("to"), v.GetString("simulate")
	switch {
	case to != "" && sim != "":
		return fmt.Errorf("%w: give --to or --simulate, not both", errUsage)
	case to != "":
		h = dispatch.Webhook(to, v.GetDuration("timeout"), nil)
	case sim != "":
		s, ok := dispatch.Simulations[sim]
		if !ok {
			return fmt.Errorf("%w: --simulate %q: want one of %s", errUsage, sim, strings.Join(dispatch.SimulationNames(), ", "))
		}
		if d := v.GetDuration("sim-median"); d > 0 {
			s.Median = d
		}
		if d := v.GetDuration("sim-p99"); d > 0 {
			s.P99 = d
		}
		if r := v.GetFloat64("sim-fail-rate"); r >= 0 {
			s.FailRate = r
		}
		if r := v.GetFloat64("sim-permanent-rate"); r >= 0 {
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
	if err := a.serveMetrics(ctx, v.GetString("metrics-addr"), reg); err != nil {
		return err
	}
	kc.ExtraOpts = append(kc.ExtraOpts, kafkaMetrics(reg))
	d, err := dispatch.New(
		dispatch.WithClient(kc),
		dispatch.WithGroup(group),
		dispatch.WithHandler(h),
		dispatch.WithTopics(v.GetStringSlice("topics"), v.GetStringSlice("priority-topics")...),
		dispatch.WithDeadLetterTopic(v.GetString("dead-letter-topic")),
		dispatch.WithMaxInFlight(v.GetInt("max-in-flight"), v.GetInt("max-in-flight-partition")),
		dispatch.WithRetryBudget(v.GetInt("max-attempts"), v.GetDuration("max-age")),
		dispatch.WithBackoff(v.GetDuration("backoff"), v.GetDuration("max-backoff")),
		dispatch.WithNormalShare(v.GetInt("normal-share")),
		dispatch.WithCommitInterval(v.GetDuration("commit-interval")),
		dispatch.WithRevokeTimeout(v.GetDuration("revoke-timeout")),
		dispatch.WithGroupTimeouts(v.GetDuration("session-timeout"), v.GetDuration("rebalance-timeout")),
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
		"processed", st.Processed, "failed", st.Failed, "retried", st.Retried, "dead_lettered", st.DeadLettered)
	return nil
}
