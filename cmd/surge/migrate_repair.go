package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/output"
)

// repairOptions are surge migrate --repair's flags.
type repairOptions struct {
	on     bool
	since  time.Duration
	settle time.Duration
	dryRun bool
}

// addRepairFlags adds `surge migrate --repair` and its options.
func addRepairFlags(f *pflag.FlagSet, o *repairOptions) {
	f.BoolVar(&o.on, "repair", false, "add what the per-minute rollups lack compared with the raw tables (after a crash between a raw part and its view)")
	f.DurationVar(&o.since, "since", 0, "with --repair: only minutes with raw rows ingested this long ago or later (0: every minute)")
	f.DurationVar(&o.settle, "settle", time.Minute, "with --repair: leave minutes alone whose newest raw row is younger than this")
	f.BoolVar(&o.dryRun, "dry-run", false, "with --repair: list the minutes that disagree without changing anything")
}

// repairReport is surge migrate --repair's --output json. Its keys are stable.
type repairReport struct {
	Database string                `json:"database"`
	DryRun   bool                  `json:"dry_run"`
	Fixes    []analytics.RollupFix `json:"fixes"`
	Fixed    int                   `json:"fixed"`
}

// runMigrateRepair compares every rollup with its raw table and adds
// what it lacks (analytics.RepairRollups), on one server or a cluster.
func runMigrateRepair(ctx context.Context, a *app, w io.Writer, o *repairOptions, format output.Format) error {
	ch, release, err := a.clickhouse(ctx)
	if err != nil {
		return err
	}
	defer release()
	opts := analytics.RepairOpts{Settle: o.settle, DryRun: o.dryRun}
	if o.since > 0 {
		opts.Since = time.Now().Add(-o.since)
	}
	fixes, err := ch.RepairRollups(ctx, opts)
	if err != nil {
		return fmt.Errorf("repair rollups: %w", err)
	}
	rep := repairReport{Database: ch.Database(), DryRun: o.dryRun, Fixes: fixes}
	rows := make([][]any, len(fixes))
	for i, f := range fixes {
		if f.Fixed {
			rep.Fixed++
		}
		rows[i] = []any{f.Rollup, fmt.Sprint(f.Key), f.Minute.Format(time.RFC3339), f.Raw, f.Rolled, f.Fixed, f.Unsettled}
	}
	if rep.Fixes == nil {
		rep.Fixes = []analytics.RollupFix{}
	}
	if format == output.JSON {
		return output.Value(w, rep)
	}
	if err := output.Rows(w, output.Table, []string{"rollup", "key", "minute", "raw_rows", "rollup_rows", "fixed", "unsettled"}, rows); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%d rollup minutes disagreed with the raw tables; %d fixed\n", len(fixes), rep.Fixed)
	return err
}
