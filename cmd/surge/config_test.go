package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segmentio/encoding/json"
)

// effective runs surge config for one command and returns its settings by
// key.
func effective(t *testing.T, args ...string) map[string]configSetting {
	t.Helper()
	out, _, err := run(t, append([]string{"config", "--output", "json"}, args...)...)
	if err != nil {
		t.Fatalf("surge config: %v", err)
	}
	var rep configReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("config output is not JSON: %v\n%s", err, out)
	}
	m := map[string]configSetting{}
	for _, s := range rep.Settings {
		m[s.Key] = s
	}
	return m
}

const precedenceYAML = `clickhouse: file-host:9000
clickhouse-database: from_file
log-level: warn
brokers: f1:9092,f2:9092
clickhouse-password: hunter2
sink:
  group: sink-from-file
  batch-rows: 1000
dispatch:
  group: payment
topics:
  create:
    partitions: 16
`

func TestConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "surge.yaml")
	if err := os.WriteFile(file, []byte(precedenceYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := []string{"--config", file}
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		key        string
		want       any
		wantSource string
	}{
		{"default", nil, []string{"sink"}, "clickhouse-database", "surge", "default"},
		{"file beats default", nil, append(cfg, "sink"), "clickhouse-database", "from_file", "file"},
		{"env beats file", map[string]string{"SURGE_CLICKHOUSE_DATABASE": "from_env"}, append(cfg, "sink"),
			"clickhouse-database", "from_env", "env SURGE_CLICKHOUSE_DATABASE"},
		{"config file from env", map[string]string{"SURGE_CONFIG": file}, []string{"report"}, "clickhouse", "file-host:9000", "file"},
		{"brokers from file split on commas", nil, append(cfg, "lag"), "brokers", []any{"f1:9092", "f2:9092"}, "file"},
		{"brokers from env", map[string]string{"SURGE_BROKERS": "e1:9092, e2:9092"}, []string{"doctor"}, "brokers",
			[]any{"e1:9092", "e2:9092"}, "env SURGE_BROKERS"},
		{"password never printed", nil, append(cfg, "migrate"), "clickhouse-password", "(set)", "file"},
		{"unset password", nil, []string{"migrate"}, "clickhouse-password", "(unset)", "default"},
		{"namespaced key: sink", nil, append(cfg, "sink"), "group", "sink-from-file", "file"},
		{"namespaced key: dispatch", nil, append(cfg, "dispatch"), "group", "payment", "file"},
		{"namespaced key does not reach lag", nil, append(cfg, "lag"), "group", []any{}, "default"},
		{"namespaced key does not reach doctor", nil, append(cfg, "doctor"), "group", []any{}, "default"},
		{"number from file", nil, append(cfg, "sink"), "batch-rows", 1000, "file"},
		{"subcommand section", nil, append(cfg, "topics", "create"), "partitions", 16, "file"},
		{"command env beats plain env", map[string]string{"SURGE_SINK_GROUP": "a", "SURGE_GROUP": "b"}, append(cfg, "sink"),
			"group", "a", "env SURGE_SINK_GROUP"},
		{"plain env beats file", map[string]string{"SURGE_GROUP": "b"}, append(cfg, "dispatch"), "group", "b", "env SURGE_GROUP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir()) // no ./surge.yaml around
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			got, ok := effective(t, tt.args...)[tt.key]
			if !ok {
				t.Fatalf("surge config %v shows no %s", tt.args, tt.key)
			}
			gotJSON, _ := json.Marshal(got.Value)
			wantJSON, _ := json.Marshal(tt.want)
			if string(gotJSON) != string(wantJSON) || got.Source != tt.wantSource {
				t.Errorf("%s: got %s from %s, want %s from %s", tt.key, gotJSON, got.Source, wantJSON, tt.wantSource)
			}
		})
	}
}

// TestFlagBeatsEnvAndFile resolves a parsed command line the way a command
// run does.
func TestFlagBeatsEnvAndFile(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("SURGE_SINK_GROUP", "from-env")
	t.Setenv("SURGE_SINK_BATCH_ROWS", "77")
	root := newRootCmd()
	sink, _, err := root.Find([]string{"sink"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.ParseFlags([]string{"--group", "from-flag"}); err != nil {
		t.Fatal(err)
	}
	file := map[string]any{"sink": map[string]any{"group": "from-file", "batch-interval": "1s", "batch-rows": 5}}
	sources, err := resolve(sink, file)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ flag, want, source string }{
		{"group", "from-flag", "flag"},
		{"batch-rows", "77", "env SURGE_SINK_BATCH_ROWS"},
		{"batch-interval", "1s", "file"},
		{"session-timeout", "10s", "default"},
	} {
		if got := sink.Flags().Lookup(tt.flag).Value.String(); got != tt.want || sources[tt.flag] != tt.source {
			t.Errorf("--%s: got %s from %s, want %s from %s", tt.flag, got, sources[tt.flag], tt.want, tt.source)
		}
	}
}

func TestConfigFileErrors(t *testing.T) {
	tests := []struct {
		name, yaml, wantErr string
	}{
		{"command key at the top level", "group: payment\n", "unknown key group: the top level holds connection and logging settings"},
		{"unknown key in a section", "sink:\n  nope: 1\n", "unknown key sink.nope: 'surge sink' has no --nope flag"},
		{"connection key in a section", "sink:\n  brokers: a:9092\n", "key sink.brokers: brokers is a connection or logging setting"},
		{"section not a map", "sink: 5\n", "key sink is the section of 'surge sink'"},
		{"bad value", "sink:\n  batch-rows: lots\n", "config file key sink.batch-rows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			if err := os.WriteFile("surge.yaml", []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := run(t, "sink", "--help")
			_ = err // help does not read the file
			_, _, err = run(t, "config", "sink")
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || exitCode(t.Context(), err) != exitUsage {
				t.Errorf("got %v, want a usage error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestHelpShowsOnlyUsedFlags checks that connection flags appear only on
// the commands that connect.
func TestHelpShowsOnlyUsedFlags(t *testing.T) {
	tests := []struct {
		args             []string
		kafka, clickhous bool
	}{
		{[]string{"version"}, false, false},
		{[]string{"config"}, false, false},
		{[]string{"rules", "validate"}, false, false},
		{[]string{"gateway", "hash-key"}, false, false},
		{[]string{"broker"}, false, false},
		{[]string{"report"}, false, true},
		{[]string{"migrate"}, false, true},
		{[]string{"rules", "backtest"}, false, true},
		{[]string{"topics", "list"}, true, false},
		{[]string{"produce"}, true, false},
		{[]string{"lag"}, true, false},
		{[]string{"dlq", "list"}, true, false},
		{[]string{"gateway"}, true, false},
		{[]string{"dispatch"}, true, false},
		{[]string{"triggers"}, true, false},
		{[]string{"sink"}, true, true},
		{[]string{"doctor"}, true, true},
		{[]string{"up"}, true, true},
		{[]string{"ui"}, true, true},
	}
	for _, tt := range tests {
		out, _, err := run(t, append(tt.args, "--help")...)
		if err != nil {
			t.Fatal(err)
		}
		for flag, want := range map[string]bool{"--brokers": tt.kafka, "--kafka-sasl-mechanism": tt.kafka,
			"--clickhouse ": tt.clickhous, "--clickhouse-tls-ca": tt.clickhous} {
			if got := strings.Contains(out, flag); got != want {
				t.Errorf("surge %s --help: shows %s: got %v, want %v", strings.Join(tt.args, " "), flag, got, want)
			}
		}
	}
}
