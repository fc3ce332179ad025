package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/surgeio/surge/internal/output"
	"github.com/surgeio/surge/stream/control"
)

// topicsResizeOptions are the flags of surge topics resize.
type topicsResizeOptions struct {
	topic         string
	partitions    int32
	dryRun        bool
	allowReorder  bool
	switchTimeout time.Duration
	sample        int
	format        output.Format
}

func newTopicsResizeCmd(a *app) *cobra.Command {
	o := topicsResizeOptions{}
	var out string
	cmd := &cobra.Command{
		Use:   "resize TOPIC --partitions N",
		Short: "Grow a topic's partitions, keeping per-key order for surge's consumers",
		Long: `Grow a topic to N partitions without breaking per-key order for surge's own
consumers (dispatch, triggers, sink).

N must be a multiple of the current count: a key then moves only from partition
p to p+k*old. surge's producers switch to the new count at once and ack; the
old partitions' end offsets after every producer switched form the barrier;
surge's consumer groups take the new partitions on within seconds but hold each
one until they have consumed its parent (p mod old) past the barrier. Kafka
cannot remove partitions, so shrinking is refused. --dry-run shows the share of
keys that move, which old partitions feed which new ones, the consumer groups
(warning about groups that are not surge's) and the steps. An interrupted
resize is completed by running the same command again.`,
		Example: `  surge topics resize orders --partitions 32 --dry-run
  surge topics resize orders --partitions 32
  surge topics resize user-events --partitions 12 --allow-reorder`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseOutput(out, output.Table, output.JSON)
			if err != nil {
				return err
			}
			o.topic, o.format = args[0], f
			return runTopicsResize(cmd.Context(), a, cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.Int32Var(&o.partitions, "partitions", 0, "the new partition count (a multiple of the current one)")
	f.BoolVar(&o.dryRun, "dry-run", false, "show what the resize would do and change nothing")
	f.BoolVar(&o.allowReorder, "allow-reorder", false, "allow a count that is not a multiple of the current one (per-key order is then not kept)")
	f.DurationVar(&o.switchTimeout, "switch-timeout", control.DefaultSwitchTimeout, "how long to wait for live producers to switch before writing the barrier without them")
	f.IntVar(&o.sample, "sample", 10000, "recent records read to measure the key movement (0 skips)")
	outputVar(f, &out, "table", "json")
	return cmd
}

func runTopicsResize(ctx context.Context, a *app, w io.Writer, o topicsResizeOptions) error {
	if o.partitions < 1 {
		return fmt.Errorf("%w: --partitions N is required (the new partition count)", errUsage)
	}
	if o.switchTimeout <= 0 {
		return fmt.Errorf("%w: --switch-timeout must be positive", errUsage)
	}
	kc, release, err := a.kafka(ctx)
	if err != nil {
		return err
	}
	defer release()
	newResizer := control.NewResizer
	if o.dryRun {
		newResizer = control.NewDryRunResizer // creates nothing, not even the control topic
	}
	z, err := newResizer(ctx, "", kc.Opts(), a.logger)
	if err != nil {
		return fmt.Errorf("%w: %w", errUnavailable, err)
	}
	defer z.Close()
	plan, err := z.Plan(ctx, o.topic, o.partitions, o.allowReorder, o.sample)
	if err != nil {
		if errors.Is(err, control.ErrShrink) || errors.Is(err, control.ErrSameCount) ||
			errors.Is(err, control.ErrNotMultiple) || errors.Is(err, control.ErrNoTopic) {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		return err
	}
	if o.dryRun {
		if o.format == output.JSON {
			return output.Value(w, plan)
		}
		printPlan(w, plan)
		return nil
	}
	if o.format == output.Table {
		printPlan(w, plan)
		fmt.Fprintln(w)
	}
	var steps []control.Progress
	err = z.Apply(ctx, plan, o.switchTimeout, func(p control.Progress) {
		steps = append(steps, p)
		if o.format == output.Table {
			fmt.Fprintf(w, "%-9s %s\n", p.Step, p.Message)
		}
	})
	if o.format == output.JSON {
		if werr := output.Value(w, resizeReport{Plan: plan, Progress: steps, Done: err == nil}); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		return fmt.Errorf("resize %s (run the same command again to complete it): %w", o.topic, err)
	}
	return nil
}

// printPlan writes the dry run's report.
func printPlan(w io.Writer, p *control.Plan) {
	verb := "resize"
	if p.Resuming {
		verb = "resume the interrupted resize"
	}
	fmt.Fprintf(w, "%s %s: %d -> %d partitions (order-safe: %v)\n", verb, p.Topic, p.Old, p.New, p.OrderSafe)
	fmt.Fprintf(w, "keys that move: %.1f%% (exact for a uniform hash)\n", 100*p.MovedShare)
	if s := p.Sample; s != nil && s.Keys > 0 {
		fmt.Fprintf(w, "measured on %d recent records: %d of %d distinct keys move (%.1f%%)\n", s.Records, s.Moved, s.Keys, 100*s.MovedShare)
	}
	fmt.Fprintln(w, "old partition -> partitions its keys spread over:")
	for _, f := range p.Feeds {
		ns := make([]string, len(f.New))
		for i, n := range f.New {
			ns[i] = fmt.Sprint(n)
		}
		fmt.Fprintf(w, "  %d -> %s\n", f.Old, strings.Join(ns, " "))
	}
	if len(p.Groups) == 0 {
		fmt.Fprintln(w, "consumer groups: none")
	} else {
		fmt.Fprintln(w, "consumer groups:")
		rows := make([][]any, len(p.Groups))
		for i, g := range p.Groups {
			comp := g.Component
			if !g.Known {
				comp = "NOT SURGE'S"
			}
			rows[i] = []any{g.Group, comp, g.State, g.Members, g.Lag}
		}
		_ = output.Rows(w, output.Table, []string{"group", "component", "state", "members", "lag"}, rows)
	}
	fmt.Fprintf(w, "live surge producers: %d\n", len(p.Producers))
	fmt.Fprintln(w, "what happens:")
	for i, s := range p.Steps {
		fmt.Fprintf(w, "  %d. %s\n", i+1, s)
	}
	for _, warn := range p.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}

// resizeReport is surge topics resize's --output json. Its keys are stable.
type resizeReport struct {
	Plan     *control.Plan      `json:"plan"`
	Progress []control.Progress `json:"progress"`
	Done     bool               `json:"done"`
}
