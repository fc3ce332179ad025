package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
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
		{[]string{"report", "no-such-report"}, `unknown report "no-such-report": valid reports are campaign-summary`, exitUsage},
		{[]string{"report", "funnel", "--clickhouse-database", "bad-name"}, `invalid clickhouse database name "bad-name"`, exitUsage},
		{[]string{"migrate", "--clickhouse-database", "1st"}, `--clickhouse-database: invalid clickhouse database name "1st"`, exitUsage},
		{[]string{"migrate", "--print", "--cluster", "c", "--clickhouse-database", "a;b"}, `invalid clickhouse database name "a;b"`, exitUsage},
		{[]string{"migrate", "--print"}, "--print needs --cluster", exitUsage},
		{[]string{"migrate", "--output", "csv"}, `unknown output format "csv"`, exitUsage},
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
