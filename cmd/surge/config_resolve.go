package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// Configuration precedence: flag > environment > config file > default.
//
// Before a command runs, every flag not given on the command line takes
// the value of its environment variable or config-file key, so the flags
// (and the options bound to them) hold the merged configuration:
//
//   - Environment: SURGE_<COMMAND>_<FLAG> (e.g. SURGE_SINK_GROUP,
//     SURGE_TOPICS_CREATE_PARTITIONS), then SURGE_<FLAG>; the connection and
//     logging flags (sharedKeys) only SURGE_<FLAG>. Dashes become
//     underscores.
//   - Config file (--config, SURGE_CONFIG, else ./surge.yaml when present):
//     the connection and logging flags at the top level, every other flag
//     under its command's section (sink: {group: ...}, topics: {create:
//     {partitions: 16}}), so a key means one thing. Unknown keys are errors.

// Where a flag's value came from.
const (
	sourceFlag    = "flag"
	sourceFile    = "file"
	sourceDefault = "default"
)

// configFile returns the config file to read: --config (already merged
// from SURGE_CONFIG), else ./surge.yaml when present, else "".
func configFile(cmd *cobra.Command) (string, error) {
	if f := cmd.Flags().Lookup("config"); f != nil && f.Value.String() != "" {
		return f.Value.String(), nil
	}
	if v := os.Getenv("SURGE_CONFIG"); v != "" {
		return v, nil
	}
	if _, err := os.Stat("surge.yaml"); err == nil {
		return "surge.yaml", nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w: %v", errUsage, err)
	}
	return "", nil
}

// readConfigFile reads and checks the YAML config file against the command
// tree under root.
func readConfigFile(root *cobra.Command, file string) (map[string]any, error) {
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: read config file %s: %v", errUsage, file, err)
	}
	m := map[string]any{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: read config file %s: %v", errUsage, file, err)
	}
	if err := checkSection(root, m, nil); err != nil {
		return nil, fmt.Errorf("%w: config file %s: %v", errUsage, file, err)
	}
	return m, nil
}

// checkSection checks that every key of m, the section of cmd (path), is
// a flag of cmd or the section of a subcommand.
func checkSection(cmd *cobra.Command, m map[string]any, path []string) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		name := strings.Join(append(slices.Clone(path), k), ".")
		if sub := subcommand(cmd, k); sub != nil {
			sm, ok := m[k].(map[string]any)
			if !ok {
				return fmt.Errorf("key %s is the section of 'surge %s': want a map of its flags", name, strings.Join(append(slices.Clone(path), k), " "))
			}
			if err := checkSection(sub, sm, append(slices.Clone(path), k)); err != nil {
				return err
			}
			continue
		}
		switch {
		case sharedKeys[k] && len(path) == 0:
		case sharedKeys[k]:
			return fmt.Errorf("key %s: %s is a connection or logging setting; put it at the top level", name, k)
		case len(path) == 0:
			return fmt.Errorf("unknown key %s: the top level holds connection and logging settings; "+
				"put a command's settings under its name (e.g. sink: {%s: ...})", name, k)
		case cmdFlag(cmd, k) == nil:
			return fmt.Errorf("unknown key %s: 'surge %s' has no --%s flag", name, strings.Join(path, " "), k)
		}
	}
	return nil
}

func subcommand(cmd *cobra.Command, name string) *cobra.Command {
	for _, c := range cmd.Commands() {
		if c.Name() == name {
			return c
		}
	}
	return nil
}

// cmdFlag finds a flag of cmd, its own or inherited.
func cmdFlag(cmd *cobra.Command, name string) *pflag.Flag {
	if f := cmd.LocalFlags().Lookup(name); f != nil {
		return f
	}
	return cmd.InheritedFlags().Lookup(name)
}

// commandPath is cmd's path below the root: ["topics", "create"].
func commandPath(cmd *cobra.Command) []string {
	var p []string
	for c := cmd; c.HasParent(); c = c.Parent() {
		p = append([]string{c.Name()}, p...)
	}
	return p
}

// envNames are the variables a flag of the command at path reads, first
// match wins.
func envNames(path []string, flag string) []string {
	up := func(parts ...string) string {
		return "SURGE_" + strings.ToUpper(strings.ReplaceAll(strings.Join(parts, "_"), "-", "_"))
	}
	if sharedKeys[flag] || len(path) == 0 {
		return []string{up(flag)}
	}
	return []string{up(append(slices.Clone(path), flag)...), up(flag)}
}

// resolve writes into every flag of cmd not set on the command line its
// environment or config-file value, and returns where each flag's value
// came from.
func resolve(cmd *cobra.Command, file map[string]any) (map[string]string, error) {
	path := commandPath(cmd)
	section := file
	for _, p := range path {
		section, _ = section[p].(map[string]any)
	}
	sources := map[string]string{}
	var err error
	visit := func(f *pflag.Flag) {
		if err != nil || f.Name == "help" || sources[f.Name] != "" {
			return
		}
		if f.Changed {
			sources[f.Name] = sourceFlag
			return
		}
		for _, env := range envNames(path, f.Name) {
			if v, ok := os.LookupEnv(env); ok {
				if e := f.Value.Set(v); e != nil {
					err = fmt.Errorf("%w: %s=%q: %v", errUsage, env, v, e)
				}
				sources[f.Name] = "env " + env
				return
			}
		}
		key := strings.Join(append(slices.Clone(path), f.Name), ".")
		v, ok := section[f.Name]
		if sharedKeys[f.Name] {
			key = f.Name
			v, ok = file[f.Name]
		}
		if !ok {
			sources[f.Name] = sourceDefault
			return
		}
		if e := setFromFile(f, v); e != nil {
			err = fmt.Errorf("%w: config file key %s: %v", errUsage, key, e)
		}
		sources[f.Name] = sourceFile
	}
	cmd.LocalFlags().VisitAll(visit)
	cmd.InheritedFlags().VisitAll(visit)
	return sources, err
}

// setFromFile sets f to a YAML value: a scalar, or a list for list flags.
func setFromFile(f *pflag.Flag, v any) error {
	if list, ok := v.([]any); ok {
		ss := make([]string, len(list))
		for i, x := range list {
			ss[i] = yamlScalar(x)
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			return sv.Replace(ss)
		}
		return f.Value.Set(strings.Join(ss, ","))
	}
	if _, ok := v.(map[string]any); ok {
		return fmt.Errorf("want a value, got a map")
	}
	return f.Value.Set(yamlScalar(v))
}

func yamlScalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}
