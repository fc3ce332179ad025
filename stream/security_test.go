package stream

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/stream/broker"
	"github.com/surgeio/surge/stream/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const testPassword = "pa55-w0rd-never-shown"

var mechanisms = []string{MechanismPlain, MechanismScramSHA256, MechanismScramSHA512}

func TestSecretNeverShown(t *testing.T) {
	sec := Security{
		SASL: SASL{Mechanism: MechanismScramSHA512, User: "alice", Password: testPassword},
		TLS:  TLS{CAFile: "/etc/ca.pem"},
	}
	cfg := ClientConfig{Brokers: []string{"k:9092"}, Security: sec}
	var logs bytes.Buffer
	text := slog.New(slog.NewTextHandler(&logs, nil))
	text.Info("config", "security", sec, "sasl", sec.SASL, "password", sec.SASL.Password, "client", cfg)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "security", sec, "password", sec.SASL.Password, "client", cfg)
	jsonSec, err := json.Marshal(sec)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"logs": logs.String(),
		"json": string(jsonSec),
		"auth error": (&AuthError{User: "alice", Mechanism: MechanismPlain, Brokers: cfg.Brokers,
			Err: errors.New("EOF")}).Error(),
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s"} {
		for name, v := range map[string]any{"secret": sec.SASL.Password, "sasl": sec.SASL,
			"security": sec, "client config": cfg, "pointer": &cfg} {
			outputs[name+" "+verb] = fmt.Sprintf(verb, v)
		}
	}
	hexPassword := fmt.Sprintf("%x", testPassword)
	for name, out := range outputs {
		if strings.Contains(out, testPassword) || strings.Contains(strings.ToLower(out), hexPassword) {
			t.Errorf("%s: got %q, want the password redacted", name, out)
		}
	}
	if got := outputs["security %v"]; !strings.Contains(got, "user=alice") || !strings.Contains(got, "password=[redacted]") {
		t.Errorf("security %%v: got %q, want the user and a redacted password", got)
	}
	if got, want := fmt.Sprint(Secret("")), ""; got != want {
		t.Errorf("empty secret: got %q, want %q", got, want)
	}
	if got := sec.SASL.Password.Reveal(); got != testPassword {
		t.Errorf("Reveal: got %q, want the password", got)
	}
}

func TestParseMechanism(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"plain", MechanismPlain, false},
		{"PLAIN", MechanismPlain, false},
		{"scram-sha-256", MechanismScramSHA256, false},
		{"SCRAM_SHA_512", MechanismScramSHA512, false},
		{" scram-sha512 ", MechanismScramSHA512, false},
		{"gssapi", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		got, err := ParseMechanism(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseMechanism(%q): got %q, %v, want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestSecurityValidate(t *testing.T) {
	ca := brokertest.NewCA(t, "validate")
	cert, key := ca.Issue(t, "client")
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		sec     Security
		wantErr string
	}{
		{"zero", Security{}, ""},
		{"sasl", Security{SASL: SASL{Mechanism: "plain", User: "u", Password: "p"}}, ""},
		{"unknown mechanism", Security{SASL: SASL{Mechanism: "kerberos", User: "u", Password: "p"}}, "want plain"},
		{"no user", Security{SASL: SASL{Mechanism: "plain", Password: "p"}}, "without a user"},
		{"no password", Security{SASL: SASL{Mechanism: "plain", User: "u"}}, `"u" has no password`},
		{"user without mechanism", Security{SASL: SASL{User: "u", Password: "p"}}, "without a mechanism"},
		{"tls with ca and client cert", Security{TLS: TLS{CAFile: ca.CertFile, CertFile: cert, KeyFile: key}}, ""},
		{"missing ca", Security{TLS: TLS{CAFile: "/no/such/ca.pem"}}, "no such file"},
		{"ca not PEM", Security{TLS: TLS{CAFile: notPEM}}, "no PEM certificates"},
		{"cert without key", Security{TLS: TLS{CertFile: cert}}, "set both or neither"},
		{"key is not the cert's", Security{TLS: TLS{CertFile: cert, KeyFile: notPEM}}, "tls client certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.sec.Validate()
			if tt.wantErr == "" && err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestTLSOn(t *testing.T) {
	for _, tt := range []struct {
		tls  TLS
		want bool
	}{
		{TLS{}, false},
		{TLS{Enabled: true}, true},
		{TLS{CAFile: "ca.pem"}, true},
		{TLS{ServerName: "kafka"}, true},
		{TLS{InsecureSkipVerifyForTesting: true}, true},
	} {
		if got := tt.tls.On(); got != tt.want {
			t.Errorf("%+v.On(): got %v, want %v", tt.tls, got, tt.want)
		}
	}
}

// roundTrip produces a record through cfg and consumes it back through cfg.
func roundTrip(t *testing.T, cfg ClientConfig) {
	t.Helper()
	ctx := testCtx(t)
	topic := "secure-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	prod, err := cfg.NewClient(kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatalf("producer client: %v", err)
	}
	defer prod.Close()
	if err := prod.ProduceSync(ctx, &kgo.Record{Key: []byte("u1"), Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	cons, err := cfg.NewClient(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatalf("consumer client: %v", err)
	}
	defer cons.Close()
	fs := cons.PollFetches(ctx)
	if err := fs.Err0(); err != nil {
		t.Fatalf("consume: %v", err)
	}
	recs := fs.Records()
	if len(recs) != 1 || string(recs[0].Value) != "hello" {
		t.Fatalf("consumed %d records (%v), want the one produced", len(recs), recs)
	}
}

// pingWithin pings cfg and fails the test if that takes longer than d.
func pingWithin(t *testing.T, cfg ClientConfig, d time.Duration) error {
	t.Helper()
	start := time.Now()
	err := Ping(context.Background(), cfg)
	if took := time.Since(start); took > d {
		t.Errorf("Ping took %v, want under %v", took, d)
	}
	return err
}

func saslBroker(t *testing.T, opts ...broker.Opt) []string {
	t.Helper()
	for _, m := range mechanisms {
		opts = append(opts, broker.WithSASLUser(m, "alice", testPassword))
	}
	return brokertest.Start(t, opts...)
}

func TestSASL(t *testing.T) {
	addrs := saslBroker(t)
	for _, m := range mechanisms {
		t.Run(m, func(t *testing.T) {
			cfg := ClientConfig{Brokers: addrs, Security: Security{SASL: SASL{Mechanism: m, User: "alice", Password: testPassword}}}
			if err := pingWithin(t, cfg, 5*time.Second); err != nil {
				t.Fatalf("Ping with the right password: %v", err)
			}
			roundTrip(t, cfg)
		})
	}
}

func TestSASLRefused(t *testing.T) {
	addrs := saslBroker(t)
	tests := []struct {
		name      string
		sasl      SASL
		wantInMsg []string
	}{
		{"plain wrong password", SASL{Mechanism: "plain", User: "alice", Password: "wrong-pw"},
			[]string{`user "alice"`, "mechanism PLAIN", "--kafka-sasl-password"}},
		{"scram-256 wrong password", SASL{Mechanism: "scram-sha-256", User: "alice", Password: "wrong-pw"},
			[]string{`user "alice"`, "mechanism SCRAM-SHA-256", "--kafka-sasl-user"}},
		{"scram-512 wrong password", SASL{Mechanism: "scram-sha-512", User: "alice", Password: "wrong-pw"},
			[]string{`user "alice"`, "mechanism SCRAM-SHA-512"}},
		{"unknown user", SASL{Mechanism: "scram-sha-512", User: "mallory", Password: testPassword},
			[]string{`user "mallory"`}},
		{"no sasl at all", SASL{}, []string{"require SASL", "--kafka-sasl-mechanism"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ClientConfig{Brokers: addrs, Security: Security{SASL: tt.sasl}}
			err := pingWithin(t, cfg, 5*time.Second)
			if !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("got %v, want ErrAuthFailed", err)
			}
			t.Logf("error: %v", err)
			msg := err.Error()
			for _, want := range tt.wantInMsg {
				if !strings.Contains(msg, want) {
					t.Errorf("got %q, want it to contain %q", msg, want)
				}
			}
			if strings.Contains(msg, "wrong-pw") || strings.Contains(msg, testPassword) {
				t.Errorf("got %q, want no password in the error", msg)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	ca := brokertest.NewCA(t, "kafka")
	addrs := brokertest.Start(t, broker.WithTLS(ca.ServerTLS(t)))
	cfg := ClientConfig{Brokers: addrs, Security: Security{TLS: TLS{CAFile: ca.CertFile}}}
	if err := pingWithin(t, cfg, 5*time.Second); err != nil {
		t.Fatalf("Ping over TLS: %v", err)
	}
	roundTrip(t, cfg)

	skip := ClientConfig{Brokers: addrs, Security: Security{TLS: TLS{InsecureSkipVerifyForTesting: true}}}
	if err := pingWithin(t, skip, 5*time.Second); err != nil {
		t.Errorf("Ping with verification off: %v", err)
	}
}

func TestTLSRefused(t *testing.T) {
	ca := brokertest.NewCA(t, "kafka")
	other := brokertest.NewCA(t, "other")
	tlsAddrs := brokertest.Start(t, broker.WithTLS(ca.ServerTLS(t)))
	plainAddrs := brokertest.Start(t)
	tests := []struct {
		name      string
		addrs     []string
		tls       TLS
		wantAs    any
		wantInMsg string
	}{
		{"wrong CA", tlsAddrs, TLS{CAFile: other.CertFile}, &x509.UnknownAuthorityError{}, "check --kafka-tls-ca"},
		{"system CAs", tlsAddrs, TLS{Enabled: true}, &x509.UnknownAuthorityError{}, "--kafka-tls-ca"},
		{"wrong server name", tlsAddrs, TLS{CAFile: ca.CertFile, ServerName: "kafka.example.com"},
			&x509.HostnameError{}, "--kafka-tls-server-name"},
		{"tls to a plaintext broker", plainAddrs, TLS{CAFile: ca.CertFile}, nil, "does not speak TLS"},
		{"plaintext to a tls broker", tlsAddrs, TLS{}, nil, "--kafka-tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ClientConfig{Brokers: tt.addrs, Security: Security{TLS: tt.tls}}
			err := pingWithin(t, cfg, 8*time.Second)
			if !errors.Is(err, ErrTLS) {
				t.Fatalf("got %v, want ErrTLS", err)
			}
			t.Logf("error: %v", err)
			if tt.wantAs != nil && !errors.As(err, tt.wantAs) {
				t.Errorf("got %v, want it to wrap %T", err, tt.wantAs)
			}
			if !strings.Contains(err.Error(), tt.wantInMsg) {
				t.Errorf("got %q, want it to contain %q", err, tt.wantInMsg)
			}
		})
	}
}

func TestMutualTLS(t *testing.T) {
	ca := brokertest.NewCA(t, "kafka")
	srvCert, srvKey := ca.Issue(t, "broker", "127.0.0.1")
	cliCert, cliKey := ca.Issue(t, "client")
	addrs := brokertest.Start(t, broker.WithTLSFiles(srvCert, srvKey, ca.CertFile))

	with := ClientConfig{Brokers: addrs, Security: Security{TLS: TLS{CAFile: ca.CertFile, CertFile: cliCert, KeyFile: cliKey}}}
	if err := pingWithin(t, with, 5*time.Second); err != nil {
		t.Fatalf("Ping with a client certificate: %v", err)
	}
	roundTrip(t, with)

	without := ClientConfig{Brokers: addrs, Security: Security{TLS: TLS{CAFile: ca.CertFile}}}
	err := pingWithin(t, without, 8*time.Second)
	if !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), "--kafka-tls-cert") {
		t.Fatalf("got %v, want ErrTLS asking for --kafka-tls-cert", err)
	}
}

func TestSASLOverTLS(t *testing.T) {
	ca := brokertest.NewCA(t, "kafka")
	addrs := saslBroker(t, broker.WithTLS(ca.ServerTLS(t)))
	sec := Security{
		SASL: SASL{Mechanism: "scram-sha-512", User: "alice", Password: testPassword},
		TLS:  TLS{CAFile: ca.CertFile},
	}
	cfg := ClientConfig{Brokers: addrs, Security: sec}
	if err := pingWithin(t, cfg, 5*time.Second); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	roundTrip(t, cfg)

	// The producer builds its own client: WithSecurity gives it the same
	// settings.
	admin, err := cfg.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := kadm.NewClient(admin).CreateTopic(testCtx(t), 1, 1, nil, "orders"); err != nil {
		t.Fatalf("create topic over SASL and TLS: %v", err)
	}
	p := newTestProducer(t, addrs, WithSecurity(sec))
	if _, err := p.Produce(testCtx(t), order("u1", 1)); err != nil {
		t.Fatalf("produce through a secured Producer: %v", err)
	}

	cfg.Security.SASL.Password = "wrong-pw"
	if err := pingWithin(t, cfg, 5*time.Second); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("wrong password over TLS: got %v, want ErrAuthFailed", err)
	}
}

func TestInvalidSecurityNeverFallsBackToPlaintext(t *testing.T) {
	addrs := newCluster(t) // a plaintext broker, which would accept anything
	cfg := ClientConfig{Brokers: addrs, Security: Security{TLS: TLS{CAFile: "/no/such/ca.pem"}}}
	if _, err := cfg.NewClient(); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("NewClient: got %v, want the CA file error", err)
	}
	if err := Ping(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Ping: got %v, want the CA file error", err)
	}
	cl, err := kgo.NewClient(cfg.Opts()...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err == nil || !strings.Contains(err.Error(), "kafka security settings") {
		t.Errorf("client from Opts: got %v, want every dial to fail with the settings error", err)
	}
}
