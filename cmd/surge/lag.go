package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/surgeio/surge/internal/output"
	"github.com/surgeio/surge/stream/lag"
)

// errLagStatus marks a run that found a group in a --fail-on status. It
// maps to exit code 1 (exitError).
var errLagStatus = errors.New("lag status")

const lagLong = `Show how far consumer groups are behind: per group, topic and partition, the
lag in records, the lag in seconds (the age of the oldest unconsumed record,
from its timestamp), the consumption rate, and a status per group.

Lag is measured as a read_committed consumer sees it: up to the last stable
offset, skipping transaction markers and aborted records. A partition with no
committed offset counts from the log start; a commit below the log start
(records deleted) counts from the log start too.

Status, judged over a sliding window of the last --window samples (rules
like Burrow's):
  ok       the lag is 0, or was 0 within the window, or none of the below
  stopped  the group has no members and lag > 0
  stalled  members are present but the committed offset did not move over
           the window while lag > 0
  lagging  the oldest unconsumed record is older than --lagging-seconds, or
           the lag grew at every sample of the window
  unknown  too few samples yet to tell

Without --watch, surge lag takes --samples samples (default 3) --interval
apart (default 5s, so about 10s) and prints the last one, judged over all of
them. --samples 1 prints at once; statuses that need a window then show as
"unknown". With --watch it samples every --interval until interrupted: on a
terminal the view is redrawn in place, otherwise each sample is appended; with
--output json each sample is one JSON object on its own line.

--fail-on STATUS (repeatable: lagging, stalled, stopped) makes surge lag exit
with status 1 when a group is in one of those states (with --watch: at the
first sample where one is), for scripts and health checks.`

// lagOptions are the parsed flags of surge lag.
type lagOptions struct {
	groups      []string
	watch       bool
	interval    time.Duration
	samples     int
	window      int
	lagging     time.Duration
	format      output.Format
	metricsAddr string
	failOn      []lag.Status
}

// lagFlags are surge lag's flags as given; lagFlags.parse checks them.
type lagFlags struct {
	groups, failOn []string
	watch          bool
	interval       time.Duration
	samples        int
	window         int
	laggingSeconds float64
	metricsAddr    string
	output         string
}

func newLagCmd(a *app) *cobra.Command {
	lf := &lagFlags{}
	cmd := &cobra.Command{
		Use:   "lag [--group NAME ...]",
		Short: "Show consumer group lag in records and seconds, with a status per group",
		Long:  lagLong,
		Example: `  surge lag                                   # all groups, 3 samples 5s apart
  surge lag --group payment --group sink --samples 1
  surge lag --watch --metrics-addr :9466      # live view, metrics for Prometheus
  surge lag --output json --fail-on stalled --fail-on stopped`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := lf.parse()
			if err != nil {
				return err
			}
			return runLag(cmd.Context(), a, cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	a.addKafkaFlags(f)
	f.StringSliceVar(&lf.groups, "group", nil, "consumer group to show (repeatable); default all groups")
	f.BoolVar(&lf.watch, "watch", false, "sample every --interval until interrupted")
	f.DurationVar(&lf.interval, "interval", 5*time.Second, "time between samples")
	f.IntVar(&lf.samples, "samples", 3, "without --watch: samples to take before printing")
	f.IntVar(&lf.window, "window", lag.DefaultWindow, "samples per group the status rules look at")
	f.Float64Var(&lf.laggingSeconds, "lagging-seconds", lag.DefaultLaggingSeconds.Seconds(), "lag in seconds above which a group is lagging (0: off)")
	f.StringSliceVar(&lf.failOn, "fail-on", nil, "exit 1 when a group is lagging, stalled or stopped (repeatable)")
	f.StringVar(&lf.metricsAddr, "metrics-addr", "", "serve Prometheus /metrics with the lag on this address (e.g. :9466)")
	outputVar(f, &lf.output, "table", "json")
	return cmd
}

// parse checks the flags and returns the options surge lag runs with.
func (lf *lagFlags) parse() (lagOptions, error) {
	o := lagOptions{
		groups:      splitList(lf.groups),
		watch:       lf.watch,
		interval:    lf.interval,
		samples:     lf.samples,
		window:      lf.window,
		metricsAddr: lf.metricsAddr,
	}
	var err error
	if o.format, err = parseOutput(lf.output, output.Table, output.JSON); err != nil {
		return o, err
	}
	switch secs := lf.laggingSeconds; {
	case o.interval <= 0:
		return o, fmt.Errorf("%w: --interval must be above 0", errUsage)
	case o.samples < 1:
		return o, fmt.Errorf("%w: --samples must be at least 1", errUsage)
	case o.window < 2:
		return o, fmt.Errorf("%w: --window must be at least 2", errUsage)
	case secs < 0:
		return o, fmt.Errorf("%w: --lagging-seconds must not be negative", errUsage)
	default:
		o.lagging = time.Duration(secs * float64(time.Second))
	}
	for _, s := range splitList(lf.failOn) {
		st, err := lag.ParseStatus(s)
		if err != nil || (st != lag.StatusLagging && st != lag.StatusStalled && st != lag.StatusStopped) {
			return o, fmt.Errorf("%w: --fail-on %q: want lagging, stalled or stopped", errUsage, s)
		}
		o.failOn = append(o.failOn, st)
	}
	return o, nil
}

func runLag(ctx context.Context, a *app, w io.Writer, o lagOptions) error {
	kc, release, err := a.kafka(ctx)
	if err != nil {
		return err
	}
	defer release()
	cl, err := kc.NewClient()
	if err != nil {
		return fmt.Errorf("%w: kafka client: %v", errUsage, err)
	}
	defer cl.Close()

	opts := []lag.Opt{
		lag.WithGroups(o.groups...),
		lag.WithWindow(o.window),
		lag.WithLaggingSeconds(o.lagging),
		lag.WithLogger(a.logger),
	}
	if !o.watch {
		// One run judges over the samples it takes.
		opts = append(opts, lag.WithMinSamples(o.samples))
	}
	mon := lag.New(cl, opts...)
	if o.metricsAddr != "" {
		reg := newRegistry()
		if err := mon.Register(reg); err != nil {
			return fmt.Errorf("register lag metrics: %w", err)
		}
		if err := a.serveMetrics(ctx, o.metricsAddr, reg); err != nil {
			return err
		}
	}
	if o.watch {
		return watchLag(ctx, a, w, mon, o)
	}

	if o.samples > 1 {
		a.logger.Info("sampling lag", "samples", o.samples, "interval", o.interval)
	}
	var snap lag.Snapshot
	for i := range o.samples {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(o.interval):
			}
		}
		if snap, err = mon.Sample(ctx); err != nil {
			return fmt.Errorf("%w: %v", errUnavailable, err)
		}
		a.logger.Debug("lag sample", "sample", i+1, "of", o.samples, "groups", len(snap.Groups))
	}
	if o.format == output.JSON {
		err = output.Value(w, snap)
	} else {
		err = lagTable(w, snap)
	}
	if err != nil {
		return err
	}
	return lagFailOn(snap, o.failOn)
}

// watchLag samples every interval until ctx ends, which is a clean exit.
func watchLag(ctx context.Context, a *app, w io.Writer, mon *lag.Monitor, o lagOptions) error {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	for {
		snap, err := mon.Sample(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			a.logger.Warn("lag sample failed; retrying at the next interval", "err", err)
		default:
			if err := drawLag(w, snap, o, tty); err != nil {
				return err
			}
			if err := lagFailOn(snap, o.failOn); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// drawLag writes one sample of a watch: a JSON line, or the table, redrawn
// in place on a terminal and appended elsewhere.
func drawLag(w io.Writer, snap lag.Snapshot, o lagOptions, tty bool) error {
	if o.format == output.JSON {
		b, err := json.Marshal(snap)
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	}
	var head strings.Builder
	if tty {
		head.WriteString("\x1b[H\x1b[2J") // cursor home, clear screen
	}
	fmt.Fprintf(&head, "surge lag at %s, every %s", snap.Time.Format("15:04:05"), o.interval)
	if tty {
		head.WriteString(" (Ctrl-C to stop)")
	}
	head.WriteString("\n\n")
	if _, err := io.WriteString(w, head.String()); err != nil {
		return err
	}
	if err := lagTable(w, snap); err != nil {
		return err
	}
	if !tty {
		_, err := io.WriteString(w, "\n")
		return err
	}
	return nil
}

// lagTable prints a row per partition and a summary row per group.
func lagTable(w io.Writer, snap lag.Snapshot) error {
	cols := []string{"group", "status", "topic", "partition", "lag", "lag_seconds", "rate/s", "note"}
	var rows [][]any
	for _, g := range snap.Groups {
		for _, p := range g.Partitions {
			rows = append(rows, []any{g.Group, string(p.Status), p.Topic, strconv.Itoa(int(p.Partition)),
				lagRecords(p.LagRecords), lagSeconds(p.LagSeconds), lagRate(p.Rate), p.Err})
		}
		note := g.Reason
		if g.Err == "" {
			note = strings.TrimSpace(fmt.Sprintf("%s; %s, %d member(s), %d sample(s)", note, g.State, g.Members, g.Samples))
			note = strings.TrimPrefix(note, "; ")
		}
		rows = append(rows, []any{g.Group, string(g.Status), "(all)", "",
			lagRecords(g.LagRecords), lagSeconds(g.MaxLagSeconds), lagRate(g.Rate), note})
	}
	if len(rows) == 0 {
		_, err := io.WriteString(w, "no consumer groups\n")
		return err
	}
	return output.Rows(w, output.Table, cols, rows)
}

func lagRecords(n int64) string {
	if n < 0 {
		return "?"
	}
	return strconv.FormatInt(n, 10)
}

func lagSeconds(s float64) string {
	if s < 0 {
		return "?"
	}
	return strconv.FormatFloat(s, 'f', 1, 64)
}

func lagRate(r float64) string { return strconv.FormatFloat(r, 'f', 1, 64) }

// lagFailOn returns an errLagStatus error naming the first group in one of the
// statuses.
func lagFailOn(snap lag.Snapshot, statuses []lag.Status) error {
	for _, g := range snap.Groups {
		for _, s := range statuses {
			if g.Status == s {
				return fmt.Errorf("%w: group %s is %s: %s", errLagStatus, g.Group, s, g.Reason)
			}
		}
	}
	return nil
}
