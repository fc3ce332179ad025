package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/output"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/plan"
	"github.com/surgeio/surge/stream/sink"
	"github.com/surgeio/surge/stream/triggers"
)

// exitNotReady is surge doctor's exit code when a check failed.
const exitNotReady = 5

// errNotReady marks a doctor run with at least one failed check.
var errNotReady = errors.New("not ready")

const doctorLong = `Check that a deployment is ready for a peak, and say what to fix.

Checks, each ok, warn or fail with the next step:
  kafka brokers          reachable, and how many
  topic <name>           every pipeline topic exists, with at least the planned
                         partitions (when a forecast is given) and
                         --min-replication replicas
  group <name>           consumer groups (--group, default the sink's and every
                         group reading the pipeline topics) have members, are
                         Stable, and lag at most --max-lag records
  keying <topic>         the newest records are keyed by user_id and on
                         murmur2(key)'s partition (librdkafka clients need
                         partitioner=murmur2_random)
  clickhouse             reachable; migrations applied; free disk; active parts
                         per partition (inserts slow at parts_to_delay_insert and
                         fail at parts_to_throw_insert); sink freshness
  clickhouse cluster     when the database is on a cluster (surge migrate
                         --cluster): parts and freshness per node through the
                         local tables; nodes answering; replication queue and
                         delay per replica; ZooKeeper; shard balance; the
                         settings surge needs on every INSERT

doctor never starts servers: with no --brokers it uses a running 'surge
broker' on --data-dir, with no --clickhouse a running local ClickHouse there,
and fails the check when there is none. It exits 5 when any check fails.
With --forecast or --forecast-file the plan arithmetic of 'surge topics plan'
sets the partitions and instances to check (--partition-capacity or a probe).`

type doctorCheck struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

type doctorReport struct {
	Ready  bool          `json:"ready"`
	Checks []doctorCheck `json:"checks"`
	Plan   *plan.Plan    `json:"plan,omitempty"`
}

func (r *doctorReport) add(name, status, msg, fix string) {
	r.Checks = append(r.Checks, doctorCheck{Name: name, Status: status, Message: msg, Fix: fix})
}

// doctorOptions are surge doctor's flags.
type doctorOptions struct {
	forecastFlags
	groups         []string
	minReplication int
	maxLag         int64
	minDiskFree    float64
	maxParts       uint64
	maxStaleness   time.Duration
	timeout        time.Duration
	output         string
}

func newDoctorCmd(a *app) *cobra.Command {
	o := &doctorOptions{}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check a deployment's readiness for a peak: brokers, topics, groups, ClickHouse",
		Long:  doctorLong,
		Example: `  surge doctor --brokers kafka-1:9092 --clickhouse ch-1:9000 --min-replication 3
  surge doctor --forecast orders=20k/s,user-events=150k/s --partition-capacity 9500/s
  surge doctor --group payment --group inventory --max-lag 5000 --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDoctor(cmd, a, o)
		},
	}
	f := cmd.Flags()
	a.addKafkaFlags(f)
	a.addClickHouseFlags(f)
	f.StringSliceVar(&o.groups, "group", nil, "consumer group to check (repeatable); default the sink's and every group reading the pipeline topics")
	f.IntVar(&o.minReplication, "min-replication", 1, "replicas every topic needs (3 on a production cluster)")
	f.Int64Var(&o.maxLag, "max-lag", 10000, "records a group may lag behind before the check fails")
	f.Float64Var(&o.minDiskFree, "min-disk-free", 15, "percent of ClickHouse disk that must be free (warns below twice this)")
	f.Uint64Var(&o.maxParts, "max-parts", 0, "active parts per partition to warn at (0: the server's parts_to_delay_insert)")
	f.DurationVar(&o.maxStaleness, "max-staleness", 5*time.Minute, "warn when the newest ClickHouse row is older than this while records wait for the sink")
	f.DurationVar(&o.timeout, "timeout", 10*time.Second, "how long to wait for each server")
	addForecastFlags(cmd, &o.forecastFlags)
	outputVar(f, &o.output, "table", "json")
	return cmd
}

func runDoctor(cmd *cobra.Command, a *app, o *doctorOptions) error {
	ctx := cmd.Context()
	of, err := parseOutput(o.output, output.Table, output.JSON)
	if err != nil {
		return err
	}
	f, haveForecast, err := o.planForecast()
	if err != nil {
		return err
	}
	opts, err := o.planOptions()
	if err != nil {
		return err
	}
	if o.minReplication < 1 || o.minDiskFree < 0 || o.maxLag < 0 {
		return fmt.Errorf("%w: --min-replication must be at least 1, --min-disk-free and --max-lag not negative", errUsage)
	}
	// Settings that cannot work are usage errors, before any check.
	if _, err := a.kafkaSettings(); err != nil {
		return err
	}
	if _, err := a.clickhouseConfig(); err != nil {
		return err
	}
	rep := &doctorReport{}
	sinkBacklog := a.doctorKafka(ctx, cmd, o, rep, f, haveForecast, opts)
	a.doctorClickHouse(ctx, o, rep, sinkBacklog)

	var failed []string
	for _, c := range rep.Checks {
		if c.Status == analytics.CheckFail {
			failed = append(failed, c.Name)
		}
	}
	rep.Ready = len(failed) == 0
	if of == output.JSON {
		if err := output.Value(cmd.OutOrStdout(), rep); err != nil {
			return err
		}
	} else {
		writeDoctor(cmd.OutOrStdout(), rep)
	}
	if !rep.Ready {
		return fmt.Errorf("%w: %d check(s) failed: %s", errNotReady, len(failed), strings.Join(failed, "; "))
	}
	return nil
}

// doctorKafka adds the Kafka checks and returns the sink group's lag
// (records), for the freshness check.
func (a *app) doctorKafka(ctx context.Context, cmd *cobra.Command, o *doctorOptions, rep *doctorReport, f plan.Forecast, haveForecast bool, opts plan.Options) int64 {
	tctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	kc, err := a.kafkaConnect(tctx)
	if err != nil {
		rep.add("kafka brokers", analytics.CheckFail, err.Error(), kafkaFix(err))
		return 0
	}
	kc.ClientID = "surge-doctor"
	brokers := kc.Brokers
	cl, err := kc.NewClient()
	if err != nil {
		rep.add("kafka brokers", analytics.CheckFail, err.Error(), "check --brokers")
		return 0
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topics := stream.DefaultTopics().All()
	if haveForecast {
		topics = planTopics(f)
	}
	st, err := plan.ReadState(tctx, adm, topics)
	if err != nil {
		rep.add("kafka brokers", analytics.CheckFail, fmt.Sprintf("%s: %v", strings.Join(brokers, ","), err),
			"check that the brokers run and that --brokers is right")
		return 0
	}
	minRepl := o.minReplication
	bstatus, bfix := analytics.CheckOK, ""
	if st.Brokers < minRepl {
		bstatus, bfix = analytics.CheckWarn, fmt.Sprintf("--min-replication %d needs at least that many brokers", minRepl)
	}
	rep.add("kafka brokers", bstatus, fmt.Sprintf("%d broker(s) reachable via %s", st.Brokers, strings.Join(brokers, ",")), bfix)

	if haveForecast {
		c, err := a.planCapacity(ctx, &o.forecastFlags, kc, f, st, cmd.ErrOrStderr())
		if err == nil {
			rep.Plan, err = plan.Compute(f, c, st, opts)
		}
		if err != nil {
			rep.add("plan", analytics.CheckFail, err.Error(), "fix the forecast or pass --partition-capacity")
		}
	}
	for _, t := range topics {
		rep.Checks = append(rep.Checks, doctorTopic(st.Topic(t), rep.Plan, minRepl))
	}
	if c, ok := doctorCoPartitioned(st); ok {
		rep.Checks = append(rep.Checks, c)
	}
	doctorKeying(tctx, kc, rep)
	return a.doctorGroups(tctx, o, adm, rep, st)
}

// doctorCoPartitioned checks that the triggers' inputs (orders, the
// priority lane and user events) have one partition count: the triggers
// meet a shopper's orders and events in one partition number and refuse to
// start otherwise. ok is false when any of them was not read.
func doctorCoPartitioned(st *plan.State) (doctorCheck, bool) {
	t := stream.DefaultTopics()
	names := []string{t.Orders, t.OrdersPriority, t.UserEvents}
	counts := make([]string, len(names))
	var most int32
	same := true
	for i, n := range names {
		ts := st.Topic(n)
		if !ts.Exists {
			return doctorCheck{}, false
		}
		counts[i] = fmt.Sprintf("%s %d", n, ts.Partitions)
		if i > 0 && ts.Partitions != st.Topic(names[0]).Partitions {
			same = false
		}
		most = max(most, ts.Partitions)
	}
	c := doctorCheck{Name: "triggers inputs", Status: analytics.CheckOK, Message: "co-partitioned: " + strings.Join(counts, ", ")}
	if !same {
		c.Status, c.Message = analytics.CheckWarn, "not co-partitioned: "+strings.Join(counts, ", ")+"; surge triggers refuses to start"
		c.Fix = fmt.Sprintf("resize the smaller ones to %d: surge topics resize TOPIC --partitions %d", most, most)
	}
	return c, true
}

func doctorTopic(t plan.TopicState, p *plan.Plan, minRepl int) doctorCheck {
	c := doctorCheck{Name: "topic " + t.Topic, Status: analytics.CheckOK}
	if !t.Exists {
		c.Status, c.Message = analytics.CheckFail, "missing"
		c.Fix = "create the pipeline topics: surge topics create"
		if p != nil {
			if tp, ok := p.Topic(t.Topic); ok {
				c.Fix += fmt.Sprintf(" --partitions %d", tp.Partitions)
			}
		}
		return c
	}
	c.Message = fmt.Sprintf("%d partitions, replication %d", t.Partitions, t.Replication)
	var fixes []string
	if p != nil {
		if tp, ok := p.Topic(t.Topic); ok {
			c.Message += fmt.Sprintf("; the plan needs %d (%s)", tp.Needed, tp.Arithmetic)
			if t.Partitions < tp.Needed {
				c.Status = analytics.CheckFail
				fixes = append(fixes, fmt.Sprintf("grow it: surge topics resize %s --partitions %d", t.Topic, tp.Partitions))
			}
		}
	}
	if int(t.Replication) < minRepl {
		c.Status = analytics.CheckFail
		fixes = append(fixes, fmt.Sprintf("replication %d is below --min-replication %d: reassign replicas (kafka-reassign-partitions) before the peak", t.Replication, minRepl))
	}
	c.Fix = strings.Join(fixes, "; ")
	return c
}

// doctorGroups adds a check per group and returns the sink group's lag.
func (a *app) doctorGroups(ctx context.Context, o *doctorOptions, adm *kadm.Client, rep *doctorReport, st *plan.State) int64 {
	groups := splitList(o.groups)
	if len(groups) == 0 {
		groups = []string{a.doctorSinkGroup()}
		for _, g := range st.Groups {
			if !planHas(groups, g.Group) {
				groups = append(groups, g.Group)
			}
		}
	}
	sort.Strings(groups)
	lags, lerr := adm.Lag(ctx, groups...)
	maxLag := o.maxLag
	var sinkLag int64
	for _, name := range groups {
		c := doctorCheck{Name: "group " + name, Status: analytics.CheckOK}
		g, ok := st.Group(name)
		switch {
		case !ok:
			c.Status, c.Message = analytics.CheckFail, "absent: no member and no committed offset on the pipeline topics"
			c.Fix = doctorStartHint(name)
			rep.Checks = append(rep.Checks, c)
			continue
		case g.Members == 0:
			c.Status, c.Message = analytics.CheckFail, fmt.Sprintf("no members (state %s) on %s", g.State, strings.Join(g.Topics, ","))
			c.Fix = doctorStartHint(name)
		case g.State != "Stable":
			c.Status, c.Message = analytics.CheckWarn, fmt.Sprintf("%d member(s), state %s", g.Members, g.State)
			c.Fix = "a rebalance is under way: check again in a minute; if it persists, look for instances restarting"
		default:
			c.Message = fmt.Sprintf("Stable, %d member(s) on %s", g.Members, strings.Join(g.Topics, ","))
		}
		lag, lagErr := groupLag(lags, lerr, name, g.Topics)
		if lagErr != nil {
			c.Message += "; lag unknown: " + lagErr.Error()
			if c.Status == analytics.CheckOK {
				c.Status = analytics.CheckWarn
			}
		} else {
			c.Message += fmt.Sprintf("; lag %d records", lag)
			if lag > maxLag {
				c.Status = analytics.CheckFail
				c.Fix = strings.TrimPrefix(c.Fix+fmt.Sprintf("; lag above --max-lag %d: let it catch up or add instances before the peak", maxLag), "; ")
			}
		}
		if name == a.doctorSinkGroup() {
			sinkLag = lag
		}
		if rep.Plan != nil {
			if gp, ok := rep.Plan.Group(name); ok && g.Members < gp.Instances {
				c.Message += fmt.Sprintf("; the plan needs %d instances (%s)", gp.Instances, gp.Arithmetic)
				if c.Status == analytics.CheckOK {
					c.Status = analytics.CheckWarn
				}
				c.Fix = strings.TrimPrefix(c.Fix+fmt.Sprintf("; scale to %d instances before the peak", gp.Instances), "; ")
			}
		}
		rep.Checks = append(rep.Checks, c)
	}
	return sinkLag
}

func (a *app) doctorSinkGroup() string { return sink.DefaultGroup }

// doctorStartHint says how to start the instances of group.
func doctorStartHint(group string) string {
	switch group {
	case sink.DefaultGroup:
		return "start the sink: surge sink"
	case triggers.DefaultGroup:
		return "start the coupon triggers: surge triggers --rules FILE"
	}
	return "start its instances, e.g. surge dispatch --group " + group
}

// groupLag sums a group's lag over topics.
func groupLag(lags kadm.DescribedGroupLags, err error, group string, topics []string) (int64, error) {
	l, ok := lags[group]
	if !ok {
		if err == nil {
			err = errors.New("not in the lag response")
		}
		return 0, err
	}
	if e := l.Error(); e != nil {
		return 0, e
	}
	var total int64
	for t, tl := range l.Lag.TotalByTopic() {
		if planHas(topics, t) {
			total += tl.Lag
		}
	}
	return total, nil
}

// doctorClickHouse adds the ClickHouse checks.
func (a *app) doctorClickHouse(ctx context.Context, o *doctorOptions, rep *doctorReport, sinkBacklog int64) {
	tctx, cancel := context.WithTimeout(ctx, 2*o.timeout)
	defer cancel()
	conn, err := a.clickhouseConnect(tctx, o.timeout)
	if err != nil {
		fix := "check --clickhouse and the server"
		switch {
		case errors.Is(err, errNoServer):
			fix = "pass --clickhouse host:port or start the pipeline (surge up / surge sink)"
		case errors.Is(err, errUsage):
			fix = "check --clickhouse-user, --clickhouse-password(-file) and --clickhouse-tls-*"
		}
		rep.add("clickhouse", analytics.CheckFail, err.Error(), fix)
		return
	}
	defer conn.Close()
	h, err := conn.Health(tctx)
	if err != nil {
		rep.add("clickhouse", analytics.CheckFail, err.Error(), "check the server's log")
		return
	}
	rep.add("clickhouse", analytics.CheckOK, fmt.Sprintf("%s reachable, version %s, database %s", conn.Addr(), h.Version, conn.Database()), "")
	for _, c := range h.Checks(analytics.HealthLimits{
		MinDiskFree:  o.minDiskFree / 100,
		PartsWarn:    o.maxParts,
		MaxStaleness: o.maxStaleness,
		SinkBacklog:  sinkBacklog,
	}) {
		rep.add(c.Name, c.Status, c.Message, c.Fix)
	}
}

// kafkaFix says what to do about a kafkaConnect error.
func kafkaFix(err error) string {
	switch {
	case errors.Is(err, errNoServer):
		return "pass --brokers host:port or start `surge broker`"
	case errors.Is(err, errUsage):
		return "check --kafka-sasl-* and --kafka-tls-*"
	}
	return "check that the brokers run and that --brokers is right"
}

func writeDoctor(w io.Writer, rep *doctorReport) {
	for _, c := range rep.Checks {
		status := c.Status
		if status != analytics.CheckOK {
			status = strings.ToUpper(status)
		}
		fmt.Fprintf(w, "%-4s  %-22s  %s\n", status, c.Name, c.Message)
		if c.Fix != "" {
			fmt.Fprintf(w, "      %-22s  → %s\n", "", c.Fix)
		}
	}
	if rep.Ready {
		fmt.Fprintln(w, "\nready")
		return
	}
	fmt.Fprintln(w, "\nnot ready; failed:")
	for _, c := range rep.Checks {
		if c.Status == analytics.CheckFail {
			fmt.Fprintf(w, "  - %s: %s\n", c.Name, c.Message)
		}
	}
}
