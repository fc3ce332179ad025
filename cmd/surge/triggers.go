package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/triggers"
	"github.com/surgeio/surge/stream/triggers/rules"
)

// triggersOptions are the command's flags.
type triggersOptions struct {
	rules              string
	group              string
	instanceID         string
	idleTimeout        time.Duration
	commitInterval     time.Duration
	maxPollRecords     int
	transactionTimeout time.Duration
	sessionTimeout     time.Duration
	rebalanceTimeout   time.Duration
	reloadInterval     time.Duration
	metricsAddr        string
	budgetPartitions   int32
}

func newTriggersCmd(a *app) *cobra.Command {
	o := &triggersOptions{}
	cmd := &cobra.Command{
		Use:   "triggers",
		Short: "Issue campaign coupons from the event stream, exactly once",
		Long: `Consume orders, orders-priority and user-events in a consumer group, evaluate
the campaign rules of --rules per event, and write Coupon records to the
coupons topic.

Exactly once: each batch's coupons, its state changes (a compacted changelog
topic "<group>.state") and its consumed offsets commit in one Kafka
transaction; on taking a partition an instance restores its users' state
from the changelog. Run several instances with the same --group to share the
partitions; give each a stable --instance-id (static group membership) so
that a restarted instance fences its predecessor's transaction and takes
back its partitions at once, without a rebalance. Budgets are split over the
input partitions, so they hold across instances.

The rules file is reloaded on SIGHUP and when it changes on disk. A file that
does not validate is rejected (its errors are logged with line and field)
and the previous rules keep running. An event more than the rules' allowed
lateness behind the newest event of its input partition is counted and
written to the dead-letter topic with reason "late". An input stops holding
back the watermark (absence timers) only once it is read to its end and
quiet for --idle-timeout: a slow or restarting consumer never makes its
backlog late.`,
		Example: `  surge triggers --rules deploy/rules/holiday.yaml
  surge triggers --rules holiday.yaml --brokers kafka-1:9092 --instance-id "$HOSTNAME" --metrics-addr :9465`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTriggers(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	a.addKafkaFlags(f)
	f.StringVar(&o.rules, "rules", "", "rules file (YAML); empty runs the built-in sample holiday rules")
	f.StringVar(&o.group, "group", triggers.DefaultGroup, "consumer group; the state changelog topic is <group>.state")
	f.StringVar(&o.instanceID, "instance-id", "", "stable id of this instance (e.g. the pod name): transactional id and static group membership; empty picks a random one")
	f.DurationVar(&o.idleTimeout, "idle-timeout", rules.DefaultIdleTimeout, "an input read to its end that stays quiet this long stops holding back the watermark")
	f.DurationVar(&o.commitInterval, "commit-interval", 0, "keep a transaction open this long across polls (fewer, larger transactions; up to this much more coupon latency); 0 commits after each poll")
	f.IntVar(&o.maxPollRecords, "max-poll-records", 200_000, "most input records in one transaction")
	f.DurationVar(&o.transactionTimeout, "transaction-timeout", 10*time.Second, "how long a crashed instance's open transaction can block its partitions")
	f.DurationVar(&o.sessionTimeout, "session-timeout", 10*time.Second, "consumer-group session timeout")
	f.DurationVar(&o.rebalanceTimeout, "rebalance-timeout", 30*time.Second, "consumer-group rebalance timeout")
	f.DurationVar(&o.reloadInterval, "reload-interval", 2*time.Second, "how often to check the rules file for changes")
	f.StringVar(&o.metricsAddr, "metrics-addr", "", "serve Prometheus /metrics on this address (e.g. :9465)")
	f.Int32Var(&o.budgetPartitions, "budget-partitions", 0, "input partitions campaign budgets are split over; 0: the count before the inputs' first resize (added partitions get no share); set it to the current count after a resize only if no budgeted coupon was issued yet")
	return cmd
}

func runTriggers(ctx context.Context, a *app, o *triggersOptions) error {
	path := o.rules
	set, err := loadRules(path)
	if err != nil {
		return err
	}
	kc, releaseKafka, err := a.kafka(ctx)
	if err != nil {
		return err
	}
	defer releaseKafka()
	reg := newRegistry()
	if err := a.serveMetrics(ctx, o.metricsAddr, reg); err != nil {
		return err
	}
	kc.ExtraOpts = append(kc.ExtraOpts, kafkaMetrics(reg))
	r, err := triggers.New(triggerOptions(a, o, kc, set, reg)...)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if path != "" {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		wctx, stop := context.WithCancel(ctx)
		defer stop()
		go r.WatchFile(wctx, path, o.reloadInterval, hup) // ended by stop
	}
	if err := r.Run(ctx); err != nil {
		return err
	}
	st := r.Stats()
	a.logger.Info("triggers stopped", "records", st.Records, "coupons", st.Issued, "coupon_errors", st.CouponErrors, "late", st.Late,
		"commits", st.Commits, "aborts", st.Aborts)
	return nil
}

// loadRules reads the rules file, or the built-in sample for an empty path.
func loadRules(path string) (*rules.Set, error) {
	if path == "" {
		return triggers.SampleRuleSet()
	}
	set, err := rules.Load(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return set, nil
}

func triggerOptions(a *app, o *triggersOptions, kc stream.ClientConfig, set *rules.Set, reg prometheus.Registerer) []triggers.Opt {
	return []triggers.Opt{
		triggers.WithClient(kc),
		triggers.WithRules(set),
		triggers.WithGroup(o.group),
		triggers.WithInstanceID(o.instanceID),
		triggers.WithIdleTimeout(o.idleTimeout),
		triggers.WithCommitInterval(o.commitInterval),
		triggers.WithMaxPollRecords(o.maxPollRecords),
		triggers.WithTransactionTimeout(o.transactionTimeout),
		triggers.WithSessionTimeout(o.sessionTimeout),
		triggers.WithRebalanceTimeout(o.rebalanceTimeout),
		triggers.WithBudgetPartitions(o.budgetPartitions),
		triggers.WithLogger(a.logger),
		triggers.WithRegisterer(reg),
	}
}

// newUpTriggers makes the in-process triggers of surge up, with the
// built-in sample rules; onIssue sees every committed coupon.
func newUpTriggers(a *app, kc stream.ClientConfig, reg prometheus.Registerer, onIssue func(rules.Issue)) (*triggers.Runner, error) {
	set, err := triggers.SampleRuleSet()
	if err != nil {
		return nil, err
	}
	return triggers.New(
		triggers.WithClient(kc),
		triggers.WithRules(set),
		triggers.WithGroup(triggers.DefaultGroup),
		triggers.WithInstanceID("surge-up"),
		triggers.WithLogger(a.logger),
		triggers.WithRegisterer(reg),
		triggers.WithOnIssue(onIssue),
	)
}
