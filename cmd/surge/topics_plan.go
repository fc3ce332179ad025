package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"golang.org/x/term"

	"github.com/surgeio/surge/internal/output"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/plan"
)

const topicsPlanLong = `Recommend partition counts per topic and consumer instances per group for a
forecast peak, from a capacity measured on the cluster, with the arithmetic.

The forecast gives each topic's peak records/s and record size or bytes/s:
  --forecast orders=20000/s,user-events=150k/s     records of --record-bytes
  --forecast orders=20k/s@450B                    450-byte records
  --forecast user-events=150k/s@40MB/s            150000 records/s, 40 MB/s
or a YAML --forecast-file (same syntax per topic; may also give a dispatch
group's handler_latency and max_in_flight). Flags override the file.

Capacity per partition is measured by a probe: a temporary one-partition topic
"surge-probe-..." gets records of the forecast size at full speed with
acks=all for --probe-duration, they are read back by one consumer, and the
topic is deleted. --partition-capacity 9500/s[@40MB/s] skips the probe (e.g.
a figure from live metrics); the output says which was used.

  partitions = ceil(peak × headroom / capacity per partition)
               → rounded up to a multiple of the current count, never below it
  instances  = ceil(peak of the group's topics × headroom / capacity per instance)
               → capped at the planned partitions of those topics

--headroom 2.0 (the default) plans for twice the forecast, i.e. 50% target
utilisation. Growing by whole multiples is what lets 'surge topics resize'
keep each user's order. Dispatch groups (found by their retry topics) are
sized by --max-in-flight / --handler-latency per instance when given.`

// forecastFlags describe a forecast and the capacity to plan it with;
// topics plan and doctor both have them.
type forecastFlags struct {
	forecast          []string
	forecastFile      string
	recordBytes       string
	headroom          float64
	partitionCapacity string
	consumerCapacity  string
	probeDuration     time.Duration
	handlerLatency    time.Duration
	maxInFlight       int
}

// addForecastFlags adds the forecast flags to cmd, bound to ff.
func addForecastFlags(cmd *cobra.Command, ff *forecastFlags) {
	f := cmd.Flags()
	f.StringSliceVar(&ff.forecast, "forecast", nil, "peak per topic: TOPIC=RATE/s[@SIZE|@BYTES/s], e.g. orders=20000/s,user-events=150k/s@250B")
	f.StringVar(&ff.forecastFile, "forecast-file", "", "YAML forecast file (topics: {orders: 20k/s@450B}, groups: {payment: {handler_latency: 20ms, max_in_flight: 64}})")
	f.StringVar(&ff.recordBytes, "record-bytes", "200B", "average record size for topics whose forecast gives none")
	f.Float64Var(&ff.headroom, "headroom", plan.DefaultHeadroom, "plan for this multiple of the forecast (2.0 = 50% target utilisation)")
	f.StringVar(&ff.partitionCapacity, "partition-capacity", "", "records/s[@bytes/s] one partition sustains, e.g. 9500/s@40MB/s; skips the probe")
	f.StringVar(&ff.consumerCapacity, "consumer-capacity", "", "records/s[@bytes/s] one consumer instance reads (default: --partition-capacity)")
	f.DurationVar(&ff.probeDuration, "probe-duration", plan.DefaultProbeDuration, "how long the capacity probe produces")
	f.DurationVar(&ff.handlerLatency, "handler-latency", 0, "dispatch groups: handler latency per record, e.g. 20ms")
	f.IntVar(&ff.maxInFlight, "max-in-flight", 0, "dispatch groups: records handled at once per instance")
}

// planForecast reads the forecast flags; ok is false when none was given.
func (ff *forecastFlags) planForecast() (f plan.Forecast, ok bool, err error) {
	rb, err := parseRecordBytes(ff.recordBytes)
	if err != nil {
		return f, false, err
	}
	if file := ff.forecastFile; file != "" {
		if f, err = plan.LoadForecastFile(file, rb); err != nil {
			return f, false, fmt.Errorf("%w: %v", errUsage, err)
		}
		ok = true
	}
	if specs := splitList(ff.forecast); len(specs) > 0 {
		over, err := plan.ParseForecast(specs, rb)
		if err != nil {
			return f, false, fmt.Errorf("%w: %v", errUsage, err)
		}
		f, ok = f.Merge(over), true
	}
	return f, ok, nil
}

func parseRecordBytes(s string) (float64, error) {
	f, err := plan.ParseForecast([]string{"x=1/s@" + s}, 0)
	if err != nil || strings.HasSuffix(strings.TrimSpace(s), "/s") {
		return 0, fmt.Errorf("%w: --record-bytes %q: want a size such as 200B or 1KB", errUsage, s)
	}
	return f.Topics[0].RecordBytes, nil
}

// planOptions reads --headroom and the dispatch handler flags.
func (ff *forecastFlags) planOptions() (plan.Options, error) {
	o := plan.Options{Headroom: ff.headroom}
	if o.Headroom < 1 {
		return o, fmt.Errorf("%w: --headroom %.2f: want 1 or more (2.0 plans for twice the forecast)", errUsage, o.Headroom)
	}
	lat, inflight := ff.handlerLatency, ff.maxInFlight
	if (lat > 0) != (inflight > 0) {
		return o, fmt.Errorf("%w: give --handler-latency and --max-in-flight together", errUsage)
	}
	o.Handler = plan.GroupForecast{HandlerLatency: lat, MaxInFlight: inflight}
	return o, nil
}

// planCapacity returns --partition-capacity, or probes the cluster with
// records of the forecast's average size, drawing progress on w.
func (a *app) planCapacity(ctx context.Context, ff *forecastFlags, kc stream.ClientConfig, f plan.Forecast, st *plan.State, w io.Writer) (plan.Capacity, error) {
	if pc := ff.partitionCapacity; pc != "" {
		c, err := plan.ParseCapacity(pc, ff.consumerCapacity)
		if err != nil {
			return c, fmt.Errorf("%w: %v", errUsage, err)
		}
		return c, nil
	}
	if ff.consumerCapacity != "" {
		return plan.Capacity{}, fmt.Errorf("%w: --consumer-capacity needs --partition-capacity", errUsage)
	}
	var recs, bytes float64
	for _, t := range f.Topics {
		recs += t.RecordsPerSec
		bytes += t.BytesPerSec
	}
	size := max(1, int(math.Round(bytes/recs)))
	repl := int16(-1)
	for _, t := range stream.DefaultTopics().Data() {
		if ts := st.Topic(t); ts.Exists {
			repl = ts.Replication
			break
		}
	}
	d := ff.probeDuration
	if d <= 0 {
		return plan.Capacity{}, fmt.Errorf("%w: --probe-duration must be above 0", errUsage)
	}
	pl := newProbeLine(w)
	defer pl.done()
	c, err := plan.Probe(ctx, kc,
		plan.WithProbeDuration(d),
		plan.WithProbeRecordBytes(size),
		plan.WithProbeReplication(repl),
		plan.WithProbeProgress(pl.update),
		plan.WithProbeLogger(a.logger),
	)
	if err != nil && c.Source == "" {
		return c, fmt.Errorf("measure partition capacity: %w", err)
	}
	if err != nil {
		a.logger.Warn("capacity probe", "err", err)
	}
	return c, nil
}

// probeLine draws the probe's progress on one line of a terminal, or a
// line per phase elsewhere.
type probeLine struct {
	w     io.Writer
	tty   bool
	phase string
}

func newProbeLine(w io.Writer) *probeLine {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &probeLine{w: w, tty: tty}
}

func (p *probeLine) update(pr plan.ProbeProgress) {
	verb := "produced"
	if pr.Phase == "consume" {
		verb = "read back"
	}
	line := fmt.Sprintf("probing partition capacity: %s %d records in %s (produce phase: %s)",
		verb, pr.Records, pr.Elapsed.Round(100*time.Millisecond), pr.Duration)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		return
	}
	if pr.Phase != p.phase {
		p.phase = pr.Phase
		fmt.Fprintln(p.w, line)
	}
}

func (p *probeLine) done() {
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// topicsPlanOptions are surge topics plan's flags.
type topicsPlanOptions struct {
	forecastFlags
	output string
}

func newTopicsPlanCmd(a *app) *cobra.Command {
	o := &topicsPlanOptions{}
	cmd := &cobra.Command{
		Use:   "plan --forecast TOPIC=RATE/s,... | --forecast-file FILE",
		Short: "Recommend partitions and consumer instances for a forecast peak, with the arithmetic",
		Long:  topicsPlanLong,
		Example: `  surge topics plan --forecast orders=20000/s,user-events=150k/s --record-bytes 300B
  surge topics plan --forecast-file peak.yaml --probe-duration 10s --output json
  surge topics plan --forecast orders=20k/s@450B --partition-capacity 9500/s@40MB/s
  surge topics plan --forecast orders=20k/s --handler-latency 20ms --max-in-flight 64`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTopicsPlan(cmd, a, o)
		},
	}
	addForecastFlags(cmd, &o.forecastFlags)
	outputVar(cmd.Flags(), &o.output, "table", "json")
	return cmd
}

func runTopicsPlan(cmd *cobra.Command, a *app, o *topicsPlanOptions) error {
	ctx := cmd.Context()
	of, err := parseOutput(o.output, output.Table, output.JSON)
	if err != nil {
		return err
	}
	f, ok, err := o.planForecast()
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: give --forecast TOPIC=RATE/s (e.g. orders=20000/s) or --forecast-file", errUsage)
	}
	opts, err := o.planOptions()
	if err != nil {
		return err
	}
	kc, release, err := a.kafka(ctx)
	if err != nil {
		return err
	}
	defer release()
	cl, err := kc.NewClient()
	if err != nil {
		return fmt.Errorf("create kafka client: %w", err)
	}
	defer cl.Close()
	st, err := plan.ReadState(ctx, kadm.NewClient(cl), planTopics(f))
	if err != nil {
		return fmt.Errorf("%w: %v", errUnavailable, err)
	}
	c, err := a.planCapacity(ctx, &o.forecastFlags, kc, f, st, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	p, err := plan.Compute(f, c, st, opts)
	if err != nil {
		if errors.Is(err, plan.ErrForecast) {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		return err
	}
	if of == output.JSON {
		return output.Value(cmd.OutOrStdout(), p)
	}
	return writePlan(cmd.OutOrStdout(), p)
}

// planTopics are the topics whose state a plan reads: the pipeline's and
// the forecast's.
func planTopics(f plan.Forecast) []string {
	topics := stream.DefaultTopics().All()
	for _, t := range f.Topics {
		if !planHas(topics, t.Topic) {
			topics = append(topics, t.Topic)
		}
	}
	return topics
}

func planHas(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// writePlan prints p as tables, each followed by its arithmetic.
func writePlan(w io.Writer, p *plan.Plan) error {
	c := p.Capacity
	from := "measured by a probe"
	if c.Source == plan.SourceGiven {
		from = "given"
	}
	fmt.Fprintf(w, "capacity (%s): %s rec/s per partition (produce %.0f rec/s, %.2f MB/s; one consumer %.0f rec/s, %.2f MB/s)\n",
		from, planRate(c.PartitionRecordsPerSec()), c.ProduceRecordsPerSec, c.ProduceBytesPerSec/1e6, c.ConsumeRecordsPerSec, c.ConsumeBytesPerSec/1e6)
	fmt.Fprintf(w, "  %s\n", c.Detail)
	fmt.Fprintf(w, "headroom: %.1f× the forecast (target utilisation %.0f%%)\n\n", p.Headroom, 100/p.Headroom)
	rows := make([][]any, len(p.Topics))
	for i, t := range p.Topics {
		rows[i] = []any{t.Topic, planRate(t.RecordsPerSec) + "/s", fmt.Sprintf("%.2f MB/s", t.BytesPerSec/1e6), t.CurrentPartitions, t.Needed, t.Partitions, t.Action}
	}
	if err := output.Rows(w, output.Table, []string{"topic", "forecast", "bytes", "current", "needed", "partitions", "action"}, rows); err != nil {
		return err
	}
	for _, t := range p.Topics {
		fmt.Fprintf(w, "  %s: %s\n", t.Topic, t.Arithmetic)
	}
	fmt.Fprintln(w)
	if len(p.Groups) == 0 {
		fmt.Fprintln(w, "no consumer group reads the forecast topics yet: nothing to size")
	} else {
		rows = make([][]any, len(p.Groups))
		for i, g := range p.Groups {
			rows[i] = []any{g.Group, strings.Join(g.Topics, ","), planRate(g.InstanceRecordsPerSec) + "/s", g.CurrentMembers, g.Instances}
		}
		if err := output.Rows(w, output.Table, []string{"group", "topics", "per instance", "members", "instances"}, rows); err != nil {
			return err
		}
		for _, g := range p.Groups {
			fmt.Fprintf(w, "  %s: %s\n", g.Group, g.Arithmetic)
			if g.Warning != "" {
				fmt.Fprintf(w, "  warning: %s\n", g.Warning)
			}
		}
	}
	for _, n := range p.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}

func planRate(v float64) string { return fmt.Sprintf("%.0f", v) }
