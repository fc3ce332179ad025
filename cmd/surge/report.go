package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/output"
)

func newReportCmd(a *app) *cobra.Command {
	var names []string
	for _, n := range analytics.ReportNames() {
		names = append(names, fmt.Sprintf("  %-18s %s", n, analytics.DescribeReport(n)))
	}
	o := &reportOptions{}
	cmd := &cobra.Command{
		Use:   "report NAME",
		Short: "Run a named campaign report against ClickHouse",
		Long:  "Run a named report over the data the sink wrote to ClickHouse.\n\nReports:\n" + strings.Join(names, "\n"),
		Example: `  surge report campaign-summary
  surge report gmv-per-minute --campaign black-friday --from 2026-11-27T00:00:00Z --to 2026-11-27T06:00:00Z
  surge report funnel --output json
  surge report top-skus --from 2h --output csv`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: analytics.ReportNames(),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.name = args[0]
			return runReport(cmd.Context(), a, cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	a.addClickHouseFlags(f)
	f.StringVar(&o.campaign, "campaign", "", "only this campaign")
	f.StringVar(&o.from, "from", "", "start of the time range: RFC 3339 time, or a duration ago such as 2h")
	f.StringVar(&o.to, "to", "", "end of the time range (exclusive): RFC 3339 time, or a duration ago")
	outputVar(f, &o.output, "table", "json", "csv")
	return cmd
}

// reportOptions are surge report's argument and flags.
type reportOptions struct {
	name, campaign, from, to, output string
}

func runReport(ctx context.Context, a *app, w io.Writer, o *reportOptions) error {
	if !slices.Contains(analytics.ReportNames(), o.name) {
		return fmt.Errorf("%w: %w %q: valid reports are %s", errUsage, analytics.ErrUnknownReport, o.name,
			strings.Join(analytics.ReportNames(), ", "))
	}
	f, err := parseOutput(o.output, output.Table, output.JSON, output.CSV)
	if err != nil {
		return err
	}
	now := time.Now()
	p := analytics.ReportParams{Campaign: o.campaign}
	if p.From, err = parseWhen(o.from, now); err != nil {
		return fmt.Errorf("%w: --from: %v", errUsage, err)
	}
	if p.To, err = parseWhen(o.to, now); err != nil {
		return fmt.Errorf("%w: --to: %v", errUsage, err)
	}
	if !p.From.IsZero() && !p.To.IsZero() && !p.From.Before(p.To) {
		return fmt.Errorf("%w: --from %s is not before --to %s", errUsage, p.From.Format(time.RFC3339), p.To.Format(time.RFC3339))
	}
	ch, release, err := a.clickhouse(ctx)
	if err != nil {
		return err
	}
	defer release()
	res, err := ch.Report(ctx, o.name, p)
	if err != nil {
		return err
	}
	return writeReport(w, f, res)
}

// writeReport prints a report: for people (table) money in major units of
// its currency ("$1,910,002.87"); as JSON or CSV the integer minor units
// next to the currency, as stored.
func writeReport(w io.Writer, f output.Format, res *analytics.ReportResult) error {
	rows := res.Rows
	if f == output.Table {
		rows = res.DisplayRows()
	}
	return output.Rows(w, f, res.Columns, rows)
}

// parseWhen reads an RFC 3339 time or a duration before now; empty is zero.
func parseWhen(s string, now time.Time) (time.Time, error) { return analytics.ParseWhen(s, now) }
