package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segmentio/encoding/json"
)

// run executes the CLI in process and returns stdout, stderr and the error.
func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func effective(t *testing.T, args ...string) map[string]any {
	t.Helper()
	out, _, err := run(t, append([]string{"config", "--output", "json"}, args...)...)
	if err != nil {
		t.Fatalf("surge config: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("config output is not JSON: %v\n%s", err, out)
	}
	return m
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "surge.yaml")
	yaml := "clickhouse: file-host:9000\nclickhouse-database: from_file\nlog-level: warn\nbrokers: f1:9092,f2:9092\nclickhouse-password: hunter2\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		key  string
		want any
	}{
		{"default", nil, nil, "clickhouse-database", "surge"},
		{"file beats default", nil, []string{"--config", file}, "clickhouse-database", "from_file"},
		{"env beats file", map[string]string{"SURGE_CLICKHOUSE_DATABASE": "from_env"}, []string{"--config", file}, "clickhouse-database", "from_env"},
		{"flag beats env", map[string]string{"SURGE_CLICKHOUSE_DATABASE": "from_env"}, []string{"--config", file, "--clickhouse-database", "from_flag"}, "clickhouse-database", "from_flag"},
		{"config file from env", map[string]string{"SURGE_CONFIG": file}, nil, "clickhouse", "file-host:9000"},
		{"brokers from file split on commas", nil, []string{"--config", file}, "brokers", []any{"f1:9092", "f2:9092"}},
		{"brokers from env", map[string]string{"SURGE_BROKERS": "e1:9092, e2:9092"}, nil, "brokers", []any{"e1:9092", "e2:9092"}},
		{"password never printed", nil, []string{"--config", file}, "clickhouse-password", "(set)"},
		{"unset password", nil, nil, "clickhouse-password", "(unset)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir()) // no ./surge.yaml around
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			got := effective(t, tt.args...)[tt.key]
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(tt.want)
			if string(gotJSON) != string(wantJSON) {
				t.Errorf("%s: got %s, want %s", tt.key, gotJSON, wantJSON)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	t.Chdir(t.TempDir())
	tests := []struct {
		args     []string
		wantErr  string
		wantCode int
	}{
		{[]string{"--log-level", "loud", "version"}, `--log-level "loud"`, exitUsage},
		{[]string{"--config", "/nonexistent/surge.yaml", "version"}, "read config file /nonexistent/surge.yaml", exitUsage},
		{[]string{"report", "campaign-summary", "--from", "yesterday"}, `"yesterday" is neither an RFC 3339 time`, exitUsage},
		{[]string{"report", "campaign-summary", "--from", "2026-11-28T00:00:00Z", "--to", "2026-11-27T00:00:00Z"}, "is not before --to", exitUsage},
		{[]string{"report", "campaign-summary", "--output", "xml"}, `unknown output format "xml"`, exitUsage},
		{[]string{"topics", "list", "--output", "yaml"}, `unknown output format "yaml"`, exitUsage},
		{[]string{"broker", "--partitions", "0"}, "--partitions must be at least 1", exitUsage},
	}
	for _, tt := range tests {
		_, _, err := run(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("surge %v: got error %v, want one containing %q", tt.args, err, tt.wantErr)
			continue
		}
		if got := exitCode(context.Background(), err); got != tt.wantCode {
			t.Errorf("surge %v: got exit code %d, want %d", tt.args, got, tt.wantCode)
		}
	}
}

func TestHelpListsCommands(t *testing.T) {
	out, _, err := run(t, "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"up", "broker", "topics", "produce", "sink", "report", "migrate", "config", "version"} {
		if !strings.Contains(out, "\n  "+c+" ") {
			t.Errorf("surge --help does not list %q:\n%s", c, out)
		}
	}
}
