package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/surgeio/surge/internal/output"
)

// secretKeys are never printed, nor is any key ending in "password".
var secretKeys = map[string]bool{"clickhouse-password": true, "kafka-sasl-password": true, "sasl-password": true}

// isSecret reports whether key's value must not be printed.
func isSecret(key string) bool { return secretKeys[key] || strings.HasSuffix(key, "password") }

func newConfigCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show the effective configuration (flags, SURGE_* environment, config file, defaults merged)",
		Long: `Show the configuration surge would run with, after merging, in order of
precedence: flags, SURGE_* environment variables, the config file, defaults.
Secrets are shown as "(set)" or "(unset)".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := a.outputFormat(output.Table, output.JSON)
			if err != nil {
				return err
			}
			var keys []string
			cmd.InheritedFlags().VisitAll(func(fl *pflag.Flag) { keys = append(keys, fl.Name) })
			slices.Sort(keys)
			values := make(map[string]any, len(keys))
			rows := make([][]any, 0, len(keys))
			for _, k := range keys {
				var v any = a.v.Get(k)
				if k == "brokers" {
					v = a.brokers()
				}
				if isSecret(k) {
					v = "(unset)"
					if a.v.GetString(k) != "" {
						v = "(set)"
					}
				}
				values[k] = v
				rows = append(rows, []any{k, fmt.Sprint(v)})
			}
			if used := a.v.ConfigFileUsed(); used != "" {
				values["config-file-used"] = used
				rows = append(rows, []any{"config-file-used", used})
			}
			if f == output.JSON {
				return output.Value(cmd.OutOrStdout(), values)
			}
			return output.Rows(cmd.OutOrStdout(), f, []string{"key", "value"}, rows)
		},
	}
	outputFlag(cmd, "table", "json")
	return cmd
}
