package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/broker"
	"github.com/surgeio/surge/stream/broker/brokertest"
)

const cliPassword = "cli-pa55-never-printed"

// writeSecret writes a password file the way a mounted secret looks.
func writeSecret(t *testing.T, pw string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(f, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// createTopic creates topic on a secured cluster through cfg.
func createTopic(t *testing.T, cfg stream.ClientConfig, topic string) {
	t.Helper()
	cl, err := cfg.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 1, nil, topic); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// assertNoSecret fails if any output holds a password.
func assertNoSecret(t *testing.T, outputs ...string) {
	t.Helper()
	for _, out := range outputs {
		for _, pw := range []string{cliPassword, "wrong-pw"} {
			if strings.Contains(out, pw) {
				t.Errorf("output shows a password:\n%s", out)
			}
		}
	}
}

func TestTopicsListSASL(t *testing.T) {
	t.Chdir(t.TempDir())
	ca := brokertest.NewCA(t, "kafka")
	addrs := brokertest.Start(t,
		broker.WithSASLUser("scram-sha-256", "alice", cliPassword),
		broker.WithTLS(ca.ServerTLS(t)))
	createTopic(t, stream.ClientConfig{Brokers: addrs, Security: stream.Security{
		SASL: stream.SASL{Mechanism: "scram-sha-256", User: "alice", Password: cliPassword},
		TLS:  stream.TLS{CAFile: ca.CertFile}}}, "orders")
	base := []string{"topics", "list", "--output", "json", "--brokers", addrs[0],
		"--kafka-sasl-mechanism", "scram-sha-256", "--kafka-sasl-user", "alice", "--kafka-tls-ca", ca.CertFile,
		"--log-level", "debug"}

	t.Run("password from env", func(t *testing.T) {
		t.Setenv("SURGE_KAFKA_SASL_PASSWORD", cliPassword)
		out, errOut, err := run(t, base...)
		if err != nil {
			t.Fatalf("surge topics list: %v\n%s", err, errOut)
		}
		if !strings.Contains(out, `"orders"`) {
			t.Errorf("got %s, want the orders topic listed", out)
		}
		assertNoSecret(t, out, errOut)
	})
	t.Run("password from file", func(t *testing.T) {
		out, errOut, err := run(t, append(base, "--kafka-sasl-password-file", writeSecret(t, cliPassword))...)
		if err != nil || !strings.Contains(out, `"orders"`) {
			t.Fatalf("surge topics list: got %v, %s, want the orders topic listed\n%s", err, out, errOut)
		}
		assertNoSecret(t, out, errOut)
	})
	t.Run("wrong password", func(t *testing.T) {
		start := time.Now()
		out, errOut, err := run(t, append(base, "--kafka-sasl-password-file", writeSecret(t, "wrong-pw"))...)
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("took %v, want a fast failure", took)
		}
		if err == nil {
			t.Fatalf("got success (%s), want an authentication error", out)
		}
		want := `kafka SASL authentication failed for user "alice" (mechanism SCRAM-SHA-256)`
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--kafka-sasl-password") {
			t.Errorf("got %q, want it to contain %q and the flag to fix", err, want)
		}
		if got := exitCode(context.Background(), err); got != exitUsage {
			t.Errorf("got exit code %d, want %d", got, exitUsage)
		}
		assertNoSecret(t, out, errOut, err.Error())
	})
	t.Run("untrusted CA", func(t *testing.T) {
		other := brokertest.NewCA(t, "other")
		args := append(append([]string{}, base...), "--kafka-tls-ca", other.CertFile, "--kafka-sasl-password-file", writeSecret(t, cliPassword))
		_, errOut, err := run(t, args...)
		if err == nil || !strings.Contains(err.Error(), "x509: certificate signed by unknown authority") ||
			!strings.Contains(err.Error(), "--kafka-tls-ca") {
			t.Fatalf("got %v, want the x509 error and the flag to fix", err)
		}
		if got := exitCode(context.Background(), err); got != exitUsage {
			t.Errorf("got exit code %d, want %d", got, exitUsage)
		}
		assertNoSecret(t, errOut, err.Error())
	})
}

func TestSecurityFlagErrors(t *testing.T) {
	t.Chdir(t.TempDir())
	pwFile := writeSecret(t, cliPassword)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown mechanism", []string{"--kafka-sasl-mechanism", "gssapi", "--kafka-sasl-user", "u", "--kafka-sasl-password", cliPassword},
			"--kafka-sasl-mechanism"},
		{"mechanism without user", []string{"--kafka-sasl-mechanism", "plain"}, "needs --kafka-sasl-user"},
		{"user without password", []string{"--kafka-sasl-mechanism", "plain", "--kafka-sasl-user", "u"}, "needs a password"},
		{"user without mechanism", []string{"--kafka-sasl-user", "u", "--kafka-sasl-password", cliPassword}, "need --kafka-sasl-mechanism"},
		{"password and file", []string{"--kafka-sasl-mechanism", "plain", "--kafka-sasl-user", "u",
			"--kafka-sasl-password", cliPassword, "--kafka-sasl-password-file", pwFile}, "not both"},
		{"missing password file", []string{"--kafka-sasl-mechanism", "plain", "--kafka-sasl-user", "u",
			"--kafka-sasl-password-file", "/no/such/file"}, "--kafka-sasl-password-file"},
		{"missing CA", []string{"--kafka-tls-ca", "/no/such/ca.pem"}, "--kafka-tls"},
		{"cert without key", []string{"--kafka-tls-cert", pwFile}, "--kafka-tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"topics", "list", "--brokers", "127.0.0.1:1"}, tt.args...)
			out, errOut, err := run(t, args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
			if got := exitCode(context.Background(), err); got != exitUsage {
				t.Errorf("got exit code %d, want %d", got, exitUsage)
			}
			assertNoSecret(t, out, errOut, err.Error())
		})
	}
	_, _, err := run(t, "migrate", "--clickhouse", "127.0.0.1:1", "--clickhouse-password", cliPassword, "--clickhouse-password-file", pwFile)
	if err == nil || !strings.Contains(err.Error(), "not both") || exitCode(context.Background(), err) != exitUsage {
		t.Errorf("clickhouse password and file: got %v, want a usage error", err)
	}
}

func TestConfigRedactsSecrets(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("SURGE_KAFKA_SASL_PASSWORD", cliPassword)
	t.Setenv("SURGE_CLICKHOUSE_PASSWORD", cliPassword)
	t.Setenv("SURGE_KAFKA_SASL_MECHANISM", "scram-sha-512")
	t.Setenv("SURGE_KAFKA_SASL_USER", "alice")
	t.Setenv("SURGE_CLICKHOUSE_PASSWORD_FILE", "/run/secrets/ch")
	t.Setenv("SURGE_KAFKA_TLS_CA", "/etc/ca.pem")
	t.Setenv("SURGE_BROKER_SASL_PASSWORD", cliPassword)
	m := effective(t, "sink")
	for key, want := range map[string]any{
		"kafka-sasl-password":      "(set)",
		"clickhouse-password":      "(set)",
		"kafka-sasl-user":          "alice",
		"kafka-sasl-mechanism":     "scram-sha-512",
		"kafka-tls-ca":             "/etc/ca.pem",
		"clickhouse-password-file": "/run/secrets/ch",
		"kafka-tls":                false,
	} {
		if got := m[key].Value; got != want {
			t.Errorf("%s: got %v, want %v", key, got, want)
		}
	}
	for _, args := range [][]string{{"config"}, {"config", "--output", "json"}, {"config", "broker"}} {
		out, errOut, err := run(t, args...)
		if err != nil {
			t.Fatal(err)
		}
		assertNoSecret(t, out, errOut)
	}
}

// TestBrokerSecured runs `surge broker` with SASL and TLS and reaches it
// from another command on the same data directory.
func TestBrokerSecured(t *testing.T) {
	t.Chdir(t.TempDir())
	ca := brokertest.NewCA(t, "kafka")
	cert, key := ca.Issue(t, "broker", "127.0.0.1", "localhost")
	pwFile := writeSecret(t, cliPassword)
	dataDir := t.TempDir()

	ctx, cancel := context.WithCancel(context.Background())
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs([]string{"broker", "--addr", "127.0.0.1:0", "--data-dir", dataDir,
		"--sasl-mechanism", "scram-sha-256,scram-sha-512", "--sasl-user", "alice", "--sasl-password-file", pwFile,
		"--tls-cert", cert, "--tls-key", key})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("surge broker: %v", err)
		}
	})
	addrFile := brokerAddrFile(filepath.Join(dataDir, "kafka"))
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(addrFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("surge broker did not start: %s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	args := []string{"topics", "create", "--partitions", "2", "--data-dir", dataDir, "--output", "json",
		"--kafka-sasl-mechanism", "scram-sha-512", "--kafka-sasl-user", "alice", "--kafka-sasl-password-file", pwFile,
		"--kafka-tls-ca", ca.CertFile}
	got, errOut, err := run(t, args...)
	if err != nil || !strings.Contains(got, `"orders"`) {
		t.Fatalf("topics create against the secured broker: got %v, %s, want the topics created\n%s", err, got, errOut)
	}
	// Without credentials the running broker refuses the command.
	_, _, err = run(t, "topics", "list", "--data-dir", dataDir, "--kafka-tls-ca", ca.CertFile)
	if err == nil || !strings.Contains(err.Error(), "require SASL") {
		t.Errorf("topics list without SASL: got %v, want the broker to ask for SASL", err)
	}
	_, _, err = run(t, "topics", "list", "--data-dir", dataDir)
	if err == nil || !strings.Contains(err.Error(), "--kafka-tls") {
		t.Errorf("topics list without any security flag: got %v, want the broker to ask for TLS", err)
	}

	// A plain client cannot sneak in either.
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.TrimSpace(readFile(t, addrFile))))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pctx, pcancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer pcancel()
	if err := cl.Ping(pctx); err == nil {
		t.Error("plaintext client without credentials: got success, want refusal")
	}

	started := out.String()
	if !strings.Contains(started, `SASL SCRAM-SHA-256/SCRAM-SHA-512 as "alice", TLS`) {
		t.Errorf("start-up line %q does not describe the security", started)
	}
	assertNoSecret(t, started, errb.String(), got, errOut)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
