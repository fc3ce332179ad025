package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/surgeio/surge/internal/output"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/dispatch"
)

func newDLQCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Inspect and redrive a dispatch group's dead letters",
		Long: `Inspect and redrive the dead letters a dispatch group gave up on.

Dead letters live in the dead-letter topic with the reason, attempts, first and
last failure time, the source topic/partition/offset and the group in their
headers. A dead letter is named by its place in that topic, "<partition>@<offset>".

--filter narrows the selection (repeatable, all must match): key=USER,
topic=SOURCE-TOPIC, event=EVENT-ID, id=P@O, redriven=true|false, error~TEXT.

Redrive replays each selected dead letter once: to the group's own handler
through its retry topic (default, --to group; other groups are not touched) or
to the source topic (--to source; every group consuming it gets the record
again). Each replay is recorded in the compacted topic "<group>.redriven", so
running the same redrive again skips what was replayed and says so.`,
	}
	a.addKafkaFlags(cmd.PersistentFlags())
	cmd.AddCommand(newDLQListCmd(a), newDLQShowCmd(a), newDLQRedriveCmd(a))
	return cmd
}

// dlqOptions are the flags of the dlq subcommands.
type dlqOptions struct {
	group, deadLetterTopic, to, output string
	filter                             []string
}

// dlqFlags adds the flags every dlq subcommand has, bound to o.
func dlqFlags(cmd *cobra.Command, o *dlqOptions) {
	f := cmd.Flags()
	f.StringVar(&o.group, "group", "", "dispatch group (required)")
	f.StringSliceVar(&o.filter, "filter", nil, "key=, topic=, event=, id=, redriven=, error~ (repeatable)")
	f.StringVar(&o.deadLetterTopic, "dead-letter-topic", stream.DefaultTopics().DeadLetters, "dead-letter topic")
	outputVar(f, &o.output, "table", "json")
}

func (o *dlqOptions) selection() (string, *dispatch.Filter, error) {
	group := o.group
	if group == "" {
		return "", nil, fmt.Errorf("%w: --group is required", errUsage)
	}
	f, err := dispatch.ParseFilter(o.filter)
	if err != nil {
		return "", nil, fmt.Errorf("%w: --filter: %v", errUsage, err)
	}
	return group, &f, nil
}

func newDLQListCmd(a *app) *cobra.Command {
	o := &dlqOptions{}
	cmd := &cobra.Command{
		Use:     "list --group NAME",
		Short:   "List a group's dead letters",
		Example: "  surge dlq list --group payment\n  surge dlq list --group payment --filter error~timeout --output json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := parseOutput(o.output, output.Table, output.JSON)
			if err != nil {
				return err
			}
			es, err := a.deadLetters(cmd.Context(), o)
			if err != nil {
				return err
			}
			return printDeadLetters(cmd.OutOrStdout(), f, es)
		},
	}
	dlqFlags(cmd, o)
	return cmd
}

func newDLQShowCmd(a *app) *cobra.Command {
	o := &dlqOptions{}
	cmd := &cobra.Command{
		Use:     "show --group NAME ID|EVENT-ID",
		Short:   "Show one dead letter in full: reason, headers, value",
		Example: "  surge dlq show --group payment 0@42\n  surge dlq show --group payment 01JDQ3Z8M4X7N2K9P5R6T8V0WY --output json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseOutput(o.output, output.Table, output.JSON)
			if err != nil {
				return err
			}
			es, err := a.deadLetters(cmd.Context(), o)
			if err != nil {
				return err
			}
			for _, e := range es {
				if e.ID() == args[0] || e.EventID == args[0] {
					return showDeadLetter(cmd.OutOrStdout(), f, e)
				}
			}
			return fmt.Errorf("%w: no dead letter %s in group %s", errUsage, args[0], o.group)
		},
	}
	dlqFlags(cmd, o)
	return cmd
}

func newDLQRedriveCmd(a *app) *cobra.Command {
	o := &dlqOptions{}
	cmd := &cobra.Command{
		Use:     "redrive --group NAME [--filter ...]",
		Short:   "Replay a group's dead letters once, to its handler or to their source topic",
		Example: "  surge dlq redrive --group payment --filter error~timeout\n  surge dlq redrive --group payment --to source",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			group, filter, err := o.selection()
			if err != nil {
				return err
			}
			target := dispatch.RedriveTarget(o.to)
			if target != dispatch.ToGroup && target != dispatch.ToSource {
				return fmt.Errorf("%w: --to %q: want group or source", errUsage, target)
			}
			kc, release, err := a.kafka(cmd.Context())
			if err != nil {
				return err
			}
			defer release()
			rep, err := dispatch.Redrive(cmd.Context(), kc, o.deadLetterTopic, group, filter, target)
			if err != nil {
				return err
			}
			if o.output == "json" {
				return output.Value(cmd.OutOrStdout(), rep)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "redrove %d dead letter(s) of group %s to %s; %d already redriven, skipped (%d matched)\n",
				rep.Redriven, group, target, rep.Skipped, rep.Matched)
			if rep.Truncated > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "left %d dead letter(s) alone: their values were cut to fit the dead-letter topic (%s); replay those from their source offsets\n",
					rep.Truncated, strings.Join(rep.TruncatedIDs, ", "))
			}
			return nil
		},
	}
	dlqFlags(cmd, o)
	cmd.Flags().StringVar(&o.to, "to", string(dispatch.ToGroup), "group: replay to this group's handler only; source: produce back to the source topic")
	return cmd
}

func (a *app) deadLetters(ctx context.Context, o *dlqOptions) ([]dispatch.DeadLetterEntry, error) {
	group, filter, err := o.selection()
	if err != nil {
		return nil, err
	}
	kc, release, err := a.kafka(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	es, err := dispatch.ListDeadLetters(ctx, kc, o.deadLetterTopic, group, filter)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUnavailable, err)
	}
	return es, nil
}

func printDeadLetters(w io.Writer, f output.Format, es []dispatch.DeadLetterEntry) error {
	cols := []string{"id", "event_id", "key", "source", "attempts", "last_failure", "redriven", "reason"}
	rows := make([][]any, 0, len(es))
	for _, e := range es {
		reason := e.Reason
		if f == output.Table && len(reason) > 60 {
			reason = reason[:57] + "..."
		}
		var redriven any = ""
		if !e.Redriven.IsZero() {
			redriven = e.Redriven
		}
		rows = append(rows, []any{e.ID(), e.EventID, string(e.Key),
			fmt.Sprintf("%s[%d]@%d", e.SourceTopic, e.SourcePartition, e.SourceOffset),
			e.Attempts, e.LastFailure, redriven, reason})
	}
	return output.Rows(w, f, cols, rows)
}

func showDeadLetter(w io.Writer, f output.Format, e dispatch.DeadLetterEntry) error {
	if f == output.JSON {
		return output.Value(w, newDeadLetterReport(e))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "id:            %s\nevent id:      %s\nkey:           %s\n", e.ID(), e.EventID, e.Key)
	fmt.Fprintf(&b, "source:        %s[%d]@%d\ngroup:         %s\n", e.SourceTopic, e.SourcePartition, e.SourceOffset, e.Group)
	fmt.Fprintf(&b, "attempts:      %d\nfirst failure: %s\nlast failure:  %s\n", e.Attempts, e.FirstFailure, e.LastFailure)
	if !e.Redriven.IsZero() {
		fmt.Fprintf(&b, "redriven:      %s\n", e.Redriven)
	}
	fmt.Fprintf(&b, "reason:        %s\n", e.Reason)
	for _, h := range e.Headers {
		fmt.Fprintf(&b, "header:        %s=%s\n", h.Key, h.Value)
	}
	fmt.Fprintf(&b, "value:\n%s\n", e.Value)
	_, err := io.WriteString(w, b.String())
	return err
}

// deadLetterReport is surge dlq show's --output json. Its keys are stable.
type deadLetterReport struct {
	ID    string          `json:"id"`
	Entry deadLetterEntry `json:"entry"`
	// Value is the record's value: its JSON when it is JSON, else a string.
	Value any `json:"value"`
}

// deadLetterEntry is the entry with its key and headers as text.
type deadLetterEntry struct {
	dispatch.DeadLetterEntry
	Key     string             `json:"key"`
	Value   string             `json:"value"`
	Headers []deadLetterHeader `json:"headers,omitempty"`
}

type deadLetterHeader struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func newDeadLetterReport(e dispatch.DeadLetterEntry) deadLetterReport {
	r := deadLetterReport{ID: e.ID(), Value: string(e.Value),
		Entry: deadLetterEntry{DeadLetterEntry: e, Key: string(e.Key), Value: string(e.Value)}}
	if json.Valid(e.Value) {
		r.Value = json.RawMessage(e.Value)
	}
	for _, h := range e.Headers {
		r.Entry.Headers = append(r.Entry.Headers, deadLetterHeader{Key: h.Key, Value: string(h.Value)})
	}
	return r
}
