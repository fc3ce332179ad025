package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/surgeio/surge/internal/output"
	"github.com/surgeio/surge/stream/triggers"
	"github.com/surgeio/surge/stream/triggers/rules"
)

func newRulesCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Validate campaign rules files and backtest them against history",
	}
	cmd.AddCommand(newRulesValidateCmd(), newRulesBacktestCmd(a))
	return cmd
}

func newRulesValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "validate FILE",
		Short:   "Check a rules file; errors name the line and field",
		Example: `  surge rules validate deploy/rules/holiday.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			set, err := rules.Load(args[0])
			if err != nil {
				return fmt.Errorf("%w: %v", errUsage, err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s: valid, %d rules (%d enabled), %d campaigns, allowed lateness %s\n",
				args[0], len(set.Rules), len(set.Enabled()), len(set.Campaigns), set.Lateness)
			for _, s := range set.Summary() {
				fmt.Fprintln(out, "  "+s)
			}
			return nil
		},
	}
}

func newRulesBacktestCmd(a *app) *cobra.Command {
	var o struct {
		from, to, output string
		partitions       int32
	}
	cmd := &cobra.Command{
		Use:   "backtest FILE",
		Short: "Replay stored events from ClickHouse through a rules file: coupons, value and budget burn",
		Long: `Replay the user events, orders and order status changes the sink stored in
ClickHouse between --from and --to, in event-time order, through the rules of
FILE with the same engine 'surge triggers' runs. Users are split over
--partitions like Kafka splits them, so budgets are shared out as in a live
run with that many partitions. Reports per rule the coupons it would have
issued, their value and the share of its budget spent, and the same per hour.`,
		Example: `  surge rules backtest deploy/rules/holiday.yaml --from 24h
  surge rules backtest holiday.yaml --from 2026-11-27T00:00:00Z --to 2026-11-28T00:00:00Z --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseOutput(o.output, output.Table, output.JSON)
			if err != nil {
				return err
			}
			set, err := rules.Load(args[0])
			if err != nil {
				return fmt.Errorf("%w: %v", errUsage, err)
			}
			now := time.Now()
			from, err := parseWhen(o.from, now)
			if err != nil || from.IsZero() {
				return fmt.Errorf("%w: --from: give an RFC 3339 time or a duration ago (%v)", errUsage, err)
			}
			to := now
			if s := o.to; s != "" {
				if to, err = parseWhen(s, now); err != nil {
					return fmt.Errorf("%w: --to: %v", errUsage, err)
				}
			}
			if !from.Before(to) {
				return fmt.Errorf("%w: --from %s is not before --to %s", errUsage, from.Format(time.RFC3339), to.Format(time.RFC3339))
			}
			ctx := cmd.Context()
			ch, release, err := a.clickhouse(ctx)
			if err != nil {
				return err
			}
			defer release()
			res, err := triggers.Backtest(ctx, ch, set, from, to, o.partitions)
			if err != nil {
				return err
			}
			return printBacktest(cmd.OutOrStdout(), f, res)
		},
	}
	f := cmd.Flags()
	a.addClickHouseFlags(f)
	f.StringVar(&o.from, "from", "", "start of the replay: RFC 3339 time or a duration ago such as 24h (required)")
	f.StringVar(&o.to, "to", "", "end of the replay (exclusive); default now")
	f.Int32Var(&o.partitions, "partitions", 8, "input partitions to split budgets over, as in the live deployment")
	outputVar(f, &o.output, "table", "json")
	return cmd
}

func printBacktest(w io.Writer, f output.Format, res *triggers.BacktestResult) error {
	if f == output.JSON {
		return output.Value(w, res)
	}
	fmt.Fprintf(w, "backtest %s .. %s: %d events (%d late), %d partitions, %d fires refused by budgets\n\n",
		res.From.Format(time.RFC3339), res.To.Format(time.RFC3339), res.Events, res.Late, res.Partitions, res.BudgetRefusals)
	rows := make([][]any, 0, len(res.Rules))
	for _, r := range res.Rules {
		rows = append(rows, []any{r.Rule, r.Campaign, r.Coupons, r.Value, r.Currency, fmt.Sprintf("%.1f%%", 100*r.BudgetUsed)})
	}
	if err := output.Rows(w, output.Table, []string{"rule", "campaign", "coupons", "value", "currency", "budget_used"}, rows); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nper hour:")
	rows = rows[:0]
	for _, h := range res.Hours {
		rows = append(rows, []any{h.Hour, h.Rule, h.Coupons, h.Value, fmt.Sprintf("%.1f%%", 100*h.BudgetUsed)})
	}
	return output.Rows(w, output.Table, []string{"hour", "rule", "coupons", "value", "budget_used"}, rows)
}
