package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/output"
)

func newMigrateCmd(a *app) *cobra.Command {
	o := &migrateOptions{}
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
		Example: `  surge migrate --output json
  surge migrate --clickhouse chi-surge-surge-0-0:9000 --cluster surge
  surge migrate --cluster surge --print > schema.sql
  surge migrate --repair --since 2h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if o.format, err = output.Parse(o.output, output.Table, output.JSON); err != nil {
				return fmt.Errorf("%w: %v", errUsage, err)
			}
			if o.print && o.cluster == "" {
				return fmt.Errorf("%w: --print needs --cluster", errUsage)
			}
			if o.repair.on {
				return runMigrateRepair(cmd.Context(), a, cmd.OutOrStdout(), &o.repair, o.format)
			}
			return runMigrate(cmd.Context(), a, cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	a.addClickHouseFlags(f)
	f.StringVar(&o.cluster, "cluster", "", "create the schema ON CLUSTER for this ClickHouse cluster (replicated local tables + Distributed tables)")
	f.BoolVar(&o.print, "print", false, "print the cluster DDL instead of applying it (with --cluster)")
	f.StringVarP(&o.output, "output", "o", "table", "output format: table, json")
	addRepairFlags(f, &o.repair)
	return cmd
}

// migrateOptions are surge migrate's flags.
type migrateOptions struct {
	cluster string
	print   bool
	output  string
	format  output.Format
	repair  repairOptions
}

// migrateReport is surge migrate's --output json. Its keys are stable.
type migrateReport struct {
	Database   string            `json:"database"`
	Cluster    string            `json:"cluster,omitempty"`
	Migrations []migrationStatus `json:"migrations"`
}

type migrationStatus struct {
	Version   uint32    `json:"version"`
	Name      string    `json:"name"`
	Applied   bool      `json:"applied"`
	AppliedAt time.Time `json:"applied_at,omitzero"`
}

func runMigrate(ctx context.Context, a *app, w io.Writer, o *migrateOptions) error {
	if o.print {
		ddl, err := analytics.ClusterDDL(a.clickhouseFlags.database, o.cluster)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		_, err = fmt.Fprintln(w, ddl)
		return err
	}
	var conn *analytics.Conn
	if o.cluster == "" {
		ch, release, err := a.clickhouse(ctx)
		if err != nil {
			return err
		}
		defer release()
		conn = ch
	} else {
		if a.clickhouseFlags.addr == "" {
			return fmt.Errorf("%w: --cluster needs --clickhouse (a node of the cluster)", errUsage)
		}
		// Connect only: a.clickhouse would first apply the single-server
		// schema.
		ch, err := a.clickhouseConnect(ctx, 0)
		if err != nil {
			return err
		}
		defer ch.Close()
		applied, err := ch.Migrate(ctx, analytics.WithCluster(o.cluster))
		if err != nil {
			return fmt.Errorf("apply ClickHouse migrations on cluster %s: %w", o.cluster, err)
		}
		if len(applied) > 0 {
			a.logger.Info("applied ClickHouse migrations on the cluster", "cluster", o.cluster, "migrations", applied)
		}
		conn = ch
	}
	status, err := conn.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	rep := migrateReport{Database: conn.Database(), Cluster: o.cluster, Migrations: make([]migrationStatus, len(status))}
	rows := make([][]any, len(status))
	for i, m := range status {
		rep.Migrations[i] = migrationStatus{Version: m.Version, Name: m.Name, Applied: m.Applied, AppliedAt: m.AppliedAt}
		at := ""
		if m.Applied {
			at = m.AppliedAt.UTC().Format(time.RFC3339)
		}
		rows[i] = []any{m.Version, m.Name, m.Applied, at}
	}
	if o.format == output.JSON {
		return output.Value(w, rep)
	}
	return output.Rows(w, output.Table, []string{"version", "name", "applied", "applied_at"}, rows)
}
