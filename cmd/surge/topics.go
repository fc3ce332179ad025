package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/internal/output"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/admin"
)

func newTopicsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topics",
		Short: "Create, list and describe the pipeline's Kafka topics",
	}
	a.addKafkaFlags(cmd.PersistentFlags())
	cmd.AddCommand(newTopicsCreateCmd(a), newTopicsListCmd(a), newTopicsDescribeCmd(a), newTopicsResizeCmd(a), newTopicsPlanCmd(a))
	return cmd
}

// withAdmin runs fn with an admin on the configured cluster.
func withAdmin(ctx context.Context, a *app, fn func(*admin.Admin) error) error {
	kc, release, err := a.kafka(ctx)
	if err != nil {
		return err
	}
	defer release()
	cl, err := kgo.NewClient(kc.Opts()...)
	if err != nil {
		return fmt.Errorf("create kafka client: %w", err)
	}
	defer cl.Close()
	return fn(admin.New(cl))
}

func newTopicsCreateCmd(a *app) *cobra.Command {
	var o struct {
		partitions  int32
		replication int
		output      string
	}
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create the pipeline's topics (idempotent)",
		Long: `Create the orders, user-events, coupons and dead-letters topics.

Topics that already exist are left as they are and reported; a topic with fewer
partitions than asked is flagged (grow it with a resize, never by recreating).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			parts, repl := o.partitions, int16(o.replication)
			if parts < 1 || repl < 1 {
				return fmt.Errorf("%w: --partitions and --replication must be at least 1", errUsage)
			}
			f, err := parseOutput(o.output, output.Table, output.JSON)
			if err != nil {
				return err
			}
			return withAdmin(cmd.Context(), a, func(ad *admin.Admin) error {
				res, err := ad.EnsureTopics(cmd.Context(), admin.DefaultSpecs(stream.DefaultTopics(), parts, repl))
				if err != nil {
					return err
				}
				if f == output.JSON {
					return output.Value(cmd.OutOrStdout(), res)
				}
				rows := make([][]any, len(res))
				for i, r := range res {
					rows[i] = []any{r.Name, r.Status, r.Partitions, r.Warning}
				}
				return output.Rows(cmd.OutOrStdout(), f, []string{"topic", "status", "partitions", "warning"}, rows)
			})
		},
	}
	cmd.Flags().Int32Var(&o.partitions, "partitions", 8, "partitions per topic (dead-letters gets a quarter)")
	cmd.Flags().IntVar(&o.replication, "replication", 1, "replication factor (3 on a production cluster)")
	outputVar(cmd.Flags(), &o.output, "table", "json")
	return cmd
}

func newTopicsListCmd(a *app) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List topics with partition counts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := parseOutput(out, output.Table, output.JSON)
			if err != nil {
				return err
			}
			return withAdmin(cmd.Context(), a, func(ad *admin.Admin) error {
				topics, err := ad.ListTopics(cmd.Context())
				if err != nil {
					return err
				}
				if f == output.JSON {
					return output.Value(cmd.OutOrStdout(), topics)
				}
				rows := make([][]any, len(topics))
				for i, t := range topics {
					rows[i] = []any{t.Name, t.Partitions, t.ReplicationFactor}
				}
				return output.Rows(cmd.OutOrStdout(), f, []string{"topic", "partitions", "replication"}, rows)
			})
		},
	}
	outputVar(cmd.Flags(), &out, "table", "json")
	return cmd
}

func newTopicsDescribeCmd(a *app) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "describe TOPIC",
		Short: "Show a topic's partitions, offsets and configs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseOutput(out, output.Table, output.JSON)
			if err != nil {
				return err
			}
			return withAdmin(cmd.Context(), a, func(ad *admin.Admin) error {
				d, err := ad.DescribeTopic(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if f == output.JSON {
					return output.Value(cmd.OutOrStdout(), d)
				}
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "topic %s: %d partitions, %d records\n", d.Name, len(d.Partitions), d.Records)
				var cfgs []string
				for k, v := range d.Configs {
					cfgs = append(cfgs, k+"="+v)
				}
				if len(cfgs) > 0 {
					fmt.Fprintf(w, "configs: %s\n", strings.Join(cfgs, " "))
				}
				rows := make([][]any, len(d.Partitions))
				for i, p := range d.Partitions {
					rows[i] = []any{p.Partition, p.Leader, p.Replicas, p.StartOffset, p.EndOffset, p.Records}
				}
				return output.Rows(w, output.Table, []string{"partition", "leader", "replicas", "start", "end", "records"}, rows)
			})
		},
	}
	outputVar(cmd.Flags(), &out, "table", "json")
	return cmd
}
