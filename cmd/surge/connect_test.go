package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/stream/broker"
	"github.com/surgeio/surge/stream/broker/brokertest"
)

// runFor runs the CLI in process; a command still running after d is
// stopped as by SIGTERM and counts as having run (it passed its
// connection checks and served until then).
func runFor(t *testing.T, d time.Duration, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		err = nil
	}
	return out.String(), errb.String(), err
}

// TestCommandsConnectSecured runs every command that connects against a
// broker requiring SASL SCRAM over TLS and a ClickHouse requiring a
// password over TLS: each connects with the right settings, and fails with
// a clear error naming the settings to fix (exit code 2, or a failed doctor
// check) with a wrong password.
func TestCommandsConnectSecured(t *testing.T) {
	rulesFile, err := filepath.Abs("../../deploy/rules/holiday.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	ca := brokertest.NewCA(t, "kafka")
	addrs := brokertest.Start(t,
		broker.WithSASLUser("scram-sha-512", "alice", cliPassword),
		broker.WithTLS(ca.ServerTLS(t)))
	ch := testenv.StartSecureClickHouse(t, "analyst", cliPassword)
	good, wrong := writeSecret(t, cliPassword), writeSecret(t, "wrong-pw")
	kafka := func(pw string) []string {
		return []string{"--brokers", addrs[0], "--kafka-sasl-mechanism", "scram-sha-512", "--kafka-sasl-user", "alice",
			"--kafka-sasl-password-file", pw, "--kafka-tls-ca", ca.CertFile}
	}
	clickhouse := func(pw string) []string {
		return []string{"--clickhouse", ch.TLSAddr, "--clickhouse-user", "analyst", "--clickhouse-password-file", pw,
			"--clickhouse-tls-ca", ch.CAFile}
	}
	const (
		kafkaAuthErr = `kafka SASL authentication failed for user "alice"`
		chAuthErr    = `user "analyst"`
	)
	tests := []struct {
		name    string
		args    []string
		kafka   bool // connects to Kafka
		ch      bool // connects to ClickHouse
		serve   time.Duration
		wantOut string // in stdout after a good run
		wantErr string // in the error of a good run that ends in one
	}{
		{name: "topics create", args: []string{"topics", "create", "--partitions", "2", "--output", "json"}, kafka: true, wantOut: `"orders"`},
		{name: "topics list", args: []string{"topics", "list"}, kafka: true, wantOut: "user-events"},
		{name: "topics describe", args: []string{"topics", "describe", "orders"}, kafka: true, wantOut: "topic orders: 2 partitions"},
		{name: "topics plan", args: []string{"topics", "plan", "--forecast", "orders=1000/s", "--partition-capacity", "5000/s"}, kafka: true, wantOut: "orders"},
		{name: "topics resize", args: []string{"topics", "resize", "orders", "--partitions", "4", "--dry-run", "--sample", "0"}, kafka: true, wantOut: "4"},
		{name: "produce", args: []string{"produce", "--max-records", "50", "--rate", "0", "--duration", "30s", "--no-progress", "--output", "json"},
			kafka: true, wantOut: `"acked": 50`},
		{name: "lag", args: []string{"lag", "--samples", "1"}, kafka: true},
		{name: "dlq list", args: []string{"dlq", "list", "--group", "payment"}, kafka: true},
		{name: "dlq redrive", args: []string{"dlq", "redrive", "--group", "payment"}, kafka: true},
		{name: "dispatch", args: []string{"dispatch", "--group", "payment", "--simulate", "payment"}, kafka: true, serve: 3 * time.Second},
		{name: "gateway", args: []string{"gateway", "--no-auth", "--addr", "127.0.0.1:0"}, kafka: true, serve: 3 * time.Second},
		{name: "triggers", args: []string{"triggers", "--rules", rulesFile}, kafka: true, serve: 3 * time.Second},
		{name: "migrate", args: []string{"migrate"}, ch: true, wantOut: "001_raw_tables"},
		{name: "migrate --output json", args: []string{"migrate", "--output", "json"}, ch: true, wantOut: `"name": "001_raw_tables"`},
		// The server is no cluster: reaching the ON CLUSTER step shows the
		// connection and the credentials worked.
		{name: "migrate --cluster", args: []string{"migrate", "--cluster", "surge"}, ch: true, wantErr: "surge"},
		{name: "report", args: []string{"report", "campaign-summary"}, ch: true},
		{name: "rules backtest", args: []string{"rules", "backtest", rulesFile, "--from", "1h"}, ch: true},
		{name: "sink", args: []string{"sink"}, kafka: true, ch: true, serve: 4 * time.Second},
		{name: "ui", args: []string{"ui", "--addr", "127.0.0.1:0"}, kafka: true, ch: true, serve: 3 * time.Second, wantOut: "campaign page: http://127.0.0.1:"},
		// Not ready (no consumer groups run), but both servers reached.
		{name: "doctor", args: []string{"doctor", "--max-lag", "1000000"}, kafka: true, ch: true,
			wantOut: "2 partitions", wantErr: "check(s) failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			withCreds := func(kpw, cpw string) []string {
				args := append([]string{}, tt.args...)
				if tt.kafka {
					args = append(args, kafka(kpw)...)
				}
				if tt.ch {
					args = append(args, clickhouse(cpw)...)
				}
				return args
			}
			d := tt.serve
			if d == 0 {
				d = time.Minute
			}
			out, errOut, err := runFor(t, d, withCreds(good, good)...)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("with the right settings: %v\n%s\n%s", err, out, errOut)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("with the right settings: got %v, want an error containing %q\n%s\n%s", err, tt.wantErr, out, errOut)
			case tt.wantErr != "" && (strings.Contains(err.Error(), "authentication") || strings.Contains(err.Error(), "TLS")):
				t.Fatalf("with the right settings: got %v, want no authentication or TLS error", err)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("with the right settings: got output\n%s\nwant it to contain %q", out, tt.wantOut)
			}
			if tt.name == "doctor" {
				for _, want := range []string{"ok    kafka brokers", "ok    clickhouse"} {
					if !strings.Contains(out, want) {
						t.Errorf("doctor: got\n%s\nwant a line %q", out, want)
					}
				}
			}
			assertNoSecret(t, out, errOut)

			type wrongCase struct{ what, kpw, cpw, wantErr string }
			var cases []wrongCase
			if tt.kafka {
				cases = append(cases, wrongCase{"kafka", wrong, good, kafkaAuthErr})
			}
			if tt.ch {
				cases = append(cases, wrongCase{"clickhouse", good, wrong, chAuthErr})
			}
			for _, c := range cases {
				start := time.Now()
				out, errOut, err := runFor(t, time.Minute, withCreds(c.kpw, c.cpw)...)
				if took := time.Since(start); took > 20*time.Second {
					t.Errorf("wrong %s password: took %v, want a prompt failure", c.what, took)
				}
				if err == nil {
					t.Fatalf("wrong %s password: got success, want an error\n%s", c.what, out)
				}
				msg := err.Error()
				wantCode := exitUsage
				if tt.name == "doctor" {
					msg, wantCode = out, exitNotReady
				}
				if !strings.Contains(msg, c.wantErr) || !strings.Contains(msg, "password") {
					t.Errorf("wrong %s password: got %q, want it to contain %q and name the password setting", c.what, msg, c.wantErr)
				}
				if got := exitCode(context.Background(), err); got != wantCode {
					t.Errorf("wrong %s password: got exit code %d (%v), want %d", c.what, got, err, wantCode)
				}
				assertNoSecret(t, out, errOut, err.Error())
			}
		})
	}
}
