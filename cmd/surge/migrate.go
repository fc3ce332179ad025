package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/surgeio/surge/analytics"
)

func newMigrateCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply ClickHouse migrations (tables, rollups) and show their status",
		Long: `Apply surge's ClickHouse migrations idempotently and list them.

Every command that uses ClickHouse applies them too; run this to prepare a
production cluster ahead of a peak.

With --cluster NAME the schema is created ON CLUSTER NAME for a replicated,
sharded ClickHouse cluster: ReplicatedMergeTree tables <table>_local on every
shard, Distributed tables under the usual names over them, and the rollup
views on the local tables. Run it once, before any other surge command points
at the cluster (they would otherwise create single-server tables on the node
they reach). It needs --clickhouse and a cluster with ZooKeeper or Keeper and
the {shard} and {replica} macros; --print shows the DDL without a server.`,
		Example: `  surge migrate
  surge migrate --clickhouse chi-surge-surge-0-0:9000 --cluster surge
  surge migrate --cluster surge --print > schema.sql`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cluster := a.v.GetString("cluster")
			if a.v.GetBool("print") {
				if cluster == "" {
					return fmt.Errorf("%w: --print needs --cluster", errUsage)
				}
				ddl, err := analytics.ClusterDDL(a.v.GetString("clickhouse-database"), cluster)
				if err != nil {
					return fmt.Errorf("%w: %v", errUsage, err)
				}
				_, err = fmt.Fprintln(cmd.OutOrStdout(), ddl)
				return err
			}
			if cluster != "" {
				return migrateCluster(cmd, a, cluster)
			}
			ch, release, err := a.clickhouse(ctx)
			if err != nil {
				return err
			}
			defer release()
			status, err := ch.MigrationStatus(ctx)
			if err != nil {
				return err
			}
			for _, m := range status {
				fmt.Fprintf(cmd.OutOrStdout(), "%v\n", m)
			}
			return nil
		},
	}
	addClickHouseFlags(cmd.Flags())
	cmd.Flags().String("cluster", "", "create the schema ON CLUSTER for this ClickHouse cluster (replicated local tables + Distributed tables)")
	cmd.Flags().Bool("print", false, "print the cluster DDL instead of applying it (with --cluster)")
	return cmd
}

// migrateCluster applies the cluster form of the schema.
func migrateCluster(cmd *cobra.Command, a *app, cluster string) error {
	ctx := cmd.Context()
	if a.v.GetString("clickhouse") == "" {
		return fmt.Errorf("%w: --cluster needs --clickhouse (a node of the cluster)", errUsage)
	}
	// Connect only: a.clickhouse would first apply the single-server schema.
	conn, err := a.clickhouseConnect(ctx, 0)
	if err != nil {
		return err
	}
	defer conn.Close()
	applied, err := conn.Migrate(ctx, analytics.WithCluster(cluster))
	if err != nil {
		return fmt.Errorf("apply ClickHouse migrations on cluster %s: %w", cluster, err)
	}
	if len(applied) > 0 {
		a.logger.Info("applied ClickHouse migrations on the cluster", "cluster", cluster, "migrations", applied)
	}
	status, err := conn.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	for _, m := range status {
		fmt.Fprintf(cmd.OutOrStdout(), "%v\n", m)
	}
	return nil
}
