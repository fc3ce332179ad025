package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.yaml.in/yaml/v3"

	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/gateway"
	"github.com/surgeio/surge/stream/loadgen"
)

func TestGatewayHashKey(t *testing.T) {
	t.Chdir(t.TempDir())
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader("sk_live_0123456789abcdef\n"))
	root.SetArgs([]string{"gateway", "hash-key", "--name", "webshop", "--scopes", "events:write"})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("hash-key: %v", err)
	}
	want := "  - name: webshop\n    sha256: " + gateway.HashKey("sk_live_0123456789abcdef") + "\n    scopes: [events:write]\n"
	if out.String() != want {
		t.Errorf("hash-key: got\n%s\nwant\n%s", out.String(), want)
	}
	if strings.Contains(out.String()+errb.String(), "sk_live") {
		t.Error("hash-key printed the secret it read")
	}

	// --generate: the secret goes to stderr once, the entry to stdout, and
	// the entry is a valid keys file that accepts the secret.
	out.Reset()
	errb.Reset()
	stdout, stderr, err := run(t, "gateway", "hash-key", "--generate", "--name", "pos")
	if err != nil {
		t.Fatalf("hash-key --generate: %v", err)
	}
	i := strings.Index(stderr, "sk_")
	if i < 0 {
		t.Fatalf("hash-key --generate: no key on stderr: %q", stderr)
	}
	secret := strings.TrimSpace(stderr[i:])
	keys, err := gateway.ParseKeys([]byte("keys:\n" + stdout))
	if err != nil {
		t.Fatalf("generated entry is not a valid keys file: %v\n%s", err, stdout)
	}
	if keys.Len() != 1 || !strings.Contains(stdout, gateway.HashKey(secret)) {
		t.Errorf("generated entry %q does not hold the hash of %q", stdout, secret)
	}

	for _, tt := range []struct {
		stdin, scope, wantErr string
	}{
		{"short\n", "orders:write", "at least 16"},
		{"\n", "orders:write", "no API key"},
		{"sk_live_0123456789abcdef\n", "orders:read", "unknown scope"},
	} {
		root := newRootCmd()
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		root.SetIn(strings.NewReader(tt.stdin))
		root.SetArgs([]string{"gateway", "hash-key", "--scopes", tt.scope})
		err := root.ExecuteContext(context.Background())
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || exitCode(context.Background(), err) != exitUsage {
			t.Errorf("hash-key with %q, scope %s: got %v, want a usage error containing %q", tt.stdin, tt.scope, err, tt.wantErr)
		}
	}
}

func TestGatewayUsageErrors(t *testing.T) {
	t.Chdir(t.TempDir())
	keys := filepath.Join(t.TempDir(), "keys.yaml")
	if err := os.WriteFile(keys, []byte("keys:\n  - {name: a, sha256: "+gateway.HashKey("x")+", scopes: [orders:write]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args    []string
		env     string
		wantErr string
	}{
		{[]string{"gateway"}, "", "no API keys"},
		{[]string{"gateway", "--keys-file", keys, "--no-auth"}, "", "cannot be combined"},
		{[]string{"gateway", "--no-auth", "--max-body", "1XB"}, "", `unknown unit "xb"`},
		{[]string{"gateway", "--no-auth", "--max-inflight", "-5"}, "", "positive number"},
		{[]string{"gateway"}, "/nonexistent/keys.yaml", "/nonexistent/keys.yaml"},
		{[]string{"gateway", "--no-auth", "--addr", "0.0.0.0:8080"}, "", "--no-auth-any-address to accept the risk"},
		{[]string{"gateway", "--no-auth", "--addr", ":8080"}, "", "listen on a loopback address"},
		{[]string{"gateway", "--no-auth", "--addr", "[::]:8080"}, "", "anyone who reaches this port"},
		{[]string{"gateway", "--no-auth", "--addr", "shop.example:8080"}, "", "--no-auth-any-address"},
		{[]string{"gateway", "--keys-file", keys, "--no-auth-any-address"}, "", "only goes with --no-auth"},
		{[]string{"gateway", "--no-auth", "--read-timeout", "0s"}, "", "--read-timeout must be positive"},
	}
	for _, tt := range tests {
		if tt.env != "" {
			t.Setenv("SURGE_GATEWAY_KEYS_FILE", tt.env)
		}
		_, _, err := run(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || exitCode(context.Background(), err) != exitUsage {
			t.Errorf("surge %v (env %q): got %v, want a usage error containing %q", tt.args, tt.env, err, tt.wantErr)
		}
	}
	out, _, err := run(t, "--help")
	if err != nil || !strings.Contains(out, "\n  gateway ") {
		t.Errorf("surge --help does not list gateway: %v\n%s", err, out)
	}
}

func TestLoopbackAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.0.0.2:1": true, "[::1]:8080": true, "localhost:8080": true, "LOCALHOST:0": true,
		":8080": false, "0.0.0.0:8080": false, "[::]:8080": false, "10.0.0.5:8080": false, "example.com:80": false, "127.0.0.1": false,
	} {
		if got := loopbackAddr(addr); got != want {
			t.Errorf("loopbackAddr(%q): got %v, want %v", addr, got, want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
	}{{"1048576", 1 << 20}, {"1MiB", 1 << 20}, {"5MB", 5 << 20}, {"512 KiB", 512 << 10}, {"1.5k", 1536}, {"2GiB", 2 << 30}} {
		if got, err := parseSize(tt.in); err != nil || got != tt.want {
			t.Errorf("parseSize(%q): got %d, %v, want %d", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "0", "MiB", "1 parsec", "-1"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q): got no error", bad)
		}
	}
}

func testApp(t *testing.T) *app {
	t.Helper()
	return &app{v: viper.New(), logger: slog.New(slog.DiscardHandler)}
}

func kafkaRecords(t *testing.T, addrs []string, topics ...string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), topics...)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// runGatewayServer serves a gateway with a keys file over Kafka, and its
// stop answers, flushes and closes.
func TestRunGatewayServer(t *testing.T) {
	addrs := testenv.Kafka(t)
	secret := "sk_test_0123456789abcdef"
	keys, err := gateway.NewKeys(gateway.Key{Name: "shop", SHA256: gateway.HashKey(secret), Scopes: []gateway.Scope{gateway.ScopeOrdersWrite}})
	if err != nil {
		t.Fatal(err)
	}
	a := testApp(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o := gatewayOpts{addr: "127.0.0.1:0", keys: keys, maxBody: 1 << 20, maxBatchBody: 5 << 20, maxBatchItems: 1000,
		maxInFlight: 64 << 20, produceTimeout: 5 * time.Second, shutdownTimeout: 10 * time.Second,
		idemWindow: time.Hour, idemMaxKeys: 1000, idemTopic: gateway.DefaultIdempotencyTopic,
		linger: time.Millisecond, compression: "lz4", createTopics: true, partitions: 4}
	addr, stop, err := runGatewayServer(ctx, a, stream.ClientConfig{Brokers: addrs}, o)
	if err != nil {
		t.Fatalf("runGatewayServer: %v", err)
	}
	body := `{"kind":"order","v":1,"event_id":"e-1","order_id":"o-1","user_id":"u-1","items":[{"sku":"a","qty":1,"unit_price":500}],` +
		`"amount":500,"currency":"EUR","priority":"urgent","created_at":"` + time.Now().UTC().Format(time.RFC3339) + `"}`
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/orders", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+secret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted || !strings.Contains(string(b), `"topic":"orders-priority"`) {
		t.Errorf("POST /v1/orders: got %d %s, want 202 into orders-priority", res.StatusCode, b)
	}
	for _, path := range []string{"/readyz", "/metrics"} {
		res, err := http.Get("http://" + addr + path)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: got %v %v, want 200", path, res.Status, err)
		}
		if path == "/metrics" {
			mb, _ := io.ReadAll(res.Body)
			if !strings.Contains(string(mb), "go_goroutines") || !strings.Contains(string(mb), "surge_gateway_requests_total") {
				t.Error("/metrics lacks the Go and gateway metrics")
			}
		}
		res.Body.Close()
	}
	if err := stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("the gateway still answers after stop")
	}
	if got := kafkaRecords(t, addrs, stream.DefaultTopics().Data()...); got != 1 {
		t.Errorf("Kafka holds %d records, want 1", got)
	}
}

// `surge up --via-gateway` generates through HTTP: every acknowledged
// record is in Kafka once.
func TestGenerateViaGateway(t *testing.T) {
	addrs := testenv.Kafka(t)
	a := testApp(t)
	a.v.Set("gateway-addr", "127.0.0.1:0")
	const n = 3000
	stats, err := generateViaGateway(context.Background(), a, stream.ClientConfig{Brokers: addrs},
		loadgen.Config{MaxRecords: n, Seed: 3}, "lz4", false, io.Discard)
	if err != nil {
		t.Fatalf("generateViaGateway: %v", err)
	}
	if stats.Acked != n || stats.Failed != 0 {
		t.Errorf("got %d acked %d failed, want %d acked", stats.Acked, stats.Failed, n)
	}
	if got := kafkaRecords(t, addrs, stream.DefaultTopics().Data()...); got != n {
		t.Errorf("Kafka holds %d records, want %d", got, n)
	}
}

// The compose file's gateway command passes the gateway's own checks: it
// serves --no-auth on :8080 inside its container, so it must accept that
// with --no-auth-any-address.
func TestComposeGatewayCommandIsAccepted(t *testing.T) {
	data, err := os.ReadFile("../../deploy/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Command []string `yaml:"command"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatal(err)
	}
	args := compose.Services["surge-gateway"].Command
	if len(args) < 2 || args[0] != "gateway" {
		t.Fatalf("compose surge-gateway command: got %q, want gateway with flags", args)
	}
	a := &app{v: viper.New()}
	gf := &gatewayFlags{}
	cmd := &cobra.Command{Use: "gateway"}
	addGatewayFlags(cmd, gf)
	if err := cmd.ParseFlags(args[1:]); err != nil {
		t.Fatal(err)
	}
	if _, err := a.gatewayOpts(gf); err != nil {
		t.Errorf("compose's %q: got %v, want it accepted", args, err)
	}
}
