package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newMigrateCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply ClickHouse migrations (tables, rollups) and show their status",
		Long: `Apply surge's ClickHouse migrations idempotently and list them.

Every command that uses ClickHouse applies them too; run this to prepare a
production cluster ahead of a peak.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
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
}
