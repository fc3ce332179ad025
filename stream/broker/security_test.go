package broker_test

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/stream/broker"
	"github.com/surgeio/surge/stream/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// ping connects with opts and asks for metadata, with a short deadline.
func ping(t *testing.T, addrs []string, opts ...kgo.Opt) error {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return cl.Ping(ctx)
}

func scram256(user, pass string) kgo.Opt {
	return kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism())
}

func TestSASLUsers(t *testing.T) {
	addrs := brokertest.Start(t,
		broker.WithSASLUser("scram-sha-256", "alice", "a-pass"),
		broker.WithSASLUser("PLAIN", "bob", "b-pass"),
	)
	tests := []struct {
		name   string
		opts   []kgo.Opt
		wantOK bool
	}{
		{"scram user", []kgo.Opt{scram256("alice", "a-pass")}, true},
		{"plain user", []kgo.Opt{kgo.SASL(plain.Auth{User: "bob", Pass: "b-pass"}.AsMechanism())}, true},
		{"wrong password", []kgo.Opt{scram256("alice", "nope")}, false},
		{"user of another mechanism", []kgo.Opt{scram256("bob", "b-pass")}, false},
		{"no sasl", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ping(t, addrs, tt.opts...)
			if (err == nil) != tt.wantOK {
				t.Errorf("got error %v, want success %v", err, tt.wantOK)
			}
		})
	}
}

func TestSASLUsersNotPersisted(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b, err := broker.Start(ctx, broker.WithDataDir(dir), broker.WithSASLUser("plain", "alice", "first-pass"))
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if _, err := os.Stat(filepath.Join(dir, "sasl.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("sasl.json after Close: got %v, want it removed (it holds PLAIN passwords)", err)
	}
	// Restarted with a new password, the new one counts and the old one no
	// longer does.
	b, err = broker.Start(ctx, broker.WithDataDir(dir), broker.WithSASLUser("plain", "alice", "second-pass"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := ping(t, b.Addrs(), kgo.SASL(plain.Auth{User: "alice", Pass: "second-pass"}.AsMechanism())); err != nil {
		t.Errorf("new password after restart: got %v, want success", err)
	}
	if err := ping(t, b.Addrs(), kgo.SASL(plain.Auth{User: "alice", Pass: "first-pass"}.AsMechanism())); err == nil {
		t.Error("old password after restart: got success, want refusal")
	}
}

func TestTLSFiles(t *testing.T) {
	ca := brokertest.NewCA(t, "broker")
	cert, key := ca.Issue(t, "broker", "127.0.0.1")
	addrs := brokertest.Start(t, broker.WithTLSFiles(cert, key, ""))
	if err := ping(t, addrs, kgo.DialTLSConfig(&tls.Config{RootCAs: ca.Pool()})); err != nil {
		t.Errorf("TLS client trusting the CA: got %v, want success", err)
	}
	if err := ping(t, addrs); err == nil {
		t.Error("plaintext client: got success, want refusal")
	}
}

func TestSecurityOptionsInvalid(t *testing.T) {
	ca := brokertest.NewCA(t, "broker")
	cert, key := ca.Issue(t, "broker", "127.0.0.1")
	tests := []struct {
		name    string
		opts    []broker.Opt
		wantErr string
	}{
		{"unknown mechanism", []broker.Opt{broker.WithSASLUser("gssapi", "u", "p")}, "want plain"},
		{"empty user", []broker.Opt{broker.WithSASLUser("plain", "", "p")}, "empty name"},
		{"empty password", []broker.Opt{broker.WithSASLUser("plain", "u", "")}, "empty password"},
		{"missing key", []broker.Opt{broker.WithTLSFiles(cert, "", "")}, "both a certificate and a key"},
		{"unreadable cert", []broker.Opt{broker.WithTLSFiles("/no/cert.pem", key, "")}, "no such file"},
		{"client CA not PEM", []broker.Opt{broker.WithTLSFiles(cert, key, key)}, "no PEM certificates"},
		{"config without certificate", []broker.Opt{broker.WithTLS(&tls.Config{})}, "no certificate"},
		{"both TLS options", []broker.Opt{broker.WithTLS(ca.ServerTLS(t)), broker.WithTLSFiles(cert, key, "")}, "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := broker.Start(context.Background(), tt.opts...)
			if err == nil {
				b.Close()
				t.Fatalf("got no error, want one containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
