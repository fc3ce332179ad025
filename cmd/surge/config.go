package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/surgeio/surge/internal/output"
)

// secretKeys are never printed, nor is any key ending in "password".
var secretKeys = map[string]bool{"clickhouse-password": true, "kafka-sasl-password": true, "sasl-password": true}

// isSecret reports whether key's value must not be printed.
func isSecret(key string) bool { return secretKeys[key] || strings.HasSuffix(key, "password") }

// configSetting is one line of surge config. Its JSON keys are stable.
type configSetting struct {
	Command string `json:"command"`
	Key     string `json:"key"`
	Value   any    `json:"value"`
	// Source is "env SURGE_...", "file" or "default".
	Source string `json:"source"`
}

// configReport is surge config's output. Its JSON keys are stable.
type configReport struct {
	ConfigFile string          `json:"config_file"`
	Settings   []configSetting `json:"settings"`
}

func newConfigCmd(a *app) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "config [COMMAND ...]",
		Short: "Show each command's configuration (SURGE_* environment, config file, defaults merged)",
		Long: `Show the configuration each command would run with, after merging, in
order of precedence, SURGE_* environment variables, the config file and the
defaults (flags given on a command's own command line win over all of them).
With COMMAND (e.g. 'surge config sink' or 'surge config topics create') only
that command; without, every command. Each value says where it came from.
Secrets are shown as "(set)" or "(unset)".`,
		Example: `  surge config sink
  surge config --config surge.yaml --output json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseOutput(out, output.Table, output.JSON)
			if err != nil {
				return err
			}
			targets, err := configTargets(cmd.Root(), args)
			if err != nil {
				return err
			}
			rep := configReport{ConfigFile: a.file, Settings: []configSetting{}}
			for _, t := range targets {
				sources, err := resolve(t, a.fileValues)
				if err != nil {
					return err
				}
				rep.Settings = append(rep.Settings, commandSettings(t, sources)...)
			}
			if f == output.JSON {
				return output.Value(cmd.OutOrStdout(), rep)
			}
			rows := make([][]any, 0, len(rep.Settings))
			for _, s := range rep.Settings {
				rows = append(rows, []any{s.Command, s.Key, fmt.Sprint(s.Value), s.Source})
			}
			if rep.ConfigFile != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "config file: %s\n", rep.ConfigFile)
			}
			return output.Rows(cmd.OutOrStdout(), f, []string{"command", "key", "value", "source"}, rows)
		},
	}
	outputVar(cmd.Flags(), &out, "table", "json")
	return cmd
}

// configTargets returns the command args names, or every runnable command
// with flags of its own when args is empty.
func configTargets(root *cobra.Command, args []string) ([]*cobra.Command, error) {
	if len(args) > 0 {
		c, rest, err := root.Find(args)
		if err != nil || len(rest) > 0 || c == root {
			return nil, fmt.Errorf("%w: no command %q; see surge --help", errUsage, strings.Join(args, " "))
		}
		return []*cobra.Command{c}, nil
	}
	var out []*cobra.Command
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if !sub.IsAvailableCommand() {
				continue
			}
			if sub.Runnable() && sub.Name() != "config" {
				out = append(out, sub)
			}
			walk(sub)
		}
	}
	walk(root)
	return out, nil
}

// commandSettings lists c's flags but the global ones (config, log-*).
func commandSettings(c *cobra.Command, sources map[string]string) []configSetting {
	name := strings.Join(commandPath(c), " ")
	var out []configSetting
	add := func(f *pflag.Flag) {
		switch f.Name {
		case "help", "config", "log-level", "log-format":
			return
		}
		out = append(out, configSetting{Command: name, Key: f.Name, Value: flagValue(f), Source: sources[f.Name]})
	}
	c.LocalFlags().VisitAll(add)
	c.InheritedFlags().VisitAll(add)
	slices.SortFunc(out, func(x, y configSetting) int { return strings.Compare(x.Key, y.Key) })
	return slices.CompactFunc(out, func(x, y configSetting) bool { return x.Key == y.Key })
}

// flagValue is f's value as JSON shows it; secrets are "(set)" or "(unset)".
func flagValue(f *pflag.Flag) any {
	if isSecret(f.Name) {
		if f.Value.String() != "" {
			return "(set)"
		}
		return "(unset)"
	}
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return append([]string{}, splitList(sv.GetSlice())...)
	}
	s := f.Value.String()
	switch t := f.Value.Type(); {
	case t == "bool":
		if b, err := strconv.ParseBool(s); err == nil {
			return b
		}
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint") || strings.HasPrefix(t, "float"):
		if n, err := strconv.ParseFloat(s, 64); err == nil {
			return n
		}
	}
	return s
}
