package analytics_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/stream/broker/brokertest"
)

const (
	secureUser     = "analyst"
	securePassword = "ch-secret-never-shown"
)

// secureServer is a local clickhouse-server with a password-protected user
// and a TLS native port.
type secureServer struct {
	plainAddr, tlsAddr string
	caFile             string
}

func startSecureServer(t *testing.T) secureServer {
	t.Helper()
	srv := testenv.StartSecureClickHouse(t, secureUser, securePassword)
	return secureServer{plainAddr: srv.PlainAddr, tlsAddr: srv.TLSAddr, caFile: srv.CAFile}
}

func TestOpenSecure(t *testing.T) {
	srv := startSecureServer(t)
	other := brokertest.NewCA(t, "other")
	pwFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pwFile, []byte(securePassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		cfg       analytics.Config
		wantErr   error
		wantAs    any
		wantInMsg []string
	}{
		{"right password", analytics.Config{Addr: srv.plainAddr, User: secureUser, Password: securePassword}, nil, nil, nil},
		{"password file", analytics.Config{Addr: srv.plainAddr, User: secureUser, PasswordFile: pwFile}, nil, nil, nil},
		{"wrong password", analytics.Config{Addr: srv.plainAddr, User: secureUser, Password: "wrong-pw"},
			analytics.ErrAuthFailed, nil, []string{`user "analyst"`, "--clickhouse-password", "--clickhouse-user"}},
		{"no password", analytics.Config{Addr: srv.plainAddr, User: secureUser},
			analytics.ErrAuthFailed, nil, []string{`user "analyst"`}},
		{"unknown user", analytics.Config{Addr: srv.plainAddr, User: "mallory", Password: securePassword},
			analytics.ErrAuthFailed, nil, []string{`user "mallory"`}},
		{"tls with the CA", analytics.Config{Addr: srv.tlsAddr, User: secureUser, Password: securePassword,
			TLS: analytics.TLSConfig{CAFile: srv.caFile}}, nil, nil, nil},
		{"tls with another CA", analytics.Config{Addr: srv.tlsAddr, User: secureUser, Password: securePassword,
			TLS: analytics.TLSConfig{CAFile: other.CertFile}},
			analytics.ErrTLS, &x509.UnknownAuthorityError{}, []string{"--clickhouse-tls-ca"}},
		{"tls with the wrong server name", analytics.Config{Addr: srv.tlsAddr, User: secureUser, Password: securePassword,
			TLS: analytics.TLSConfig{CAFile: srv.caFile, ServerName: "ch.example.com"}},
			analytics.ErrTLS, &x509.HostnameError{}, []string{"--clickhouse-tls-server-name"}},
		{"tls to the plaintext port", analytics.Config{Addr: srv.plainAddr, User: secureUser, Password: securePassword,
			TLS: analytics.TLSConfig{CAFile: srv.caFile}}, analytics.ErrTLS, nil, []string{"secure native port"}},
		{"plaintext to the tls port", analytics.Config{Addr: srv.tlsAddr, User: secureUser, Password: securePassword},
			analytics.ErrTLS, nil, []string{"--clickhouse-tls"}},
		{"wrong password over tls", analytics.Config{Addr: srv.tlsAddr, User: secureUser, Password: "wrong-pw",
			TLS: analytics.TLSConfig{CAFile: srv.caFile}}, analytics.ErrAuthFailed, nil, []string{`user "analyst"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			tt.cfg.DialTimeout = 5 * time.Second
			conn, err := analytics.Open(ctx, tt.cfg)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer conn.Close()
				var one uint8
				if err := conn.DB().QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
					t.Fatalf("SELECT 1: got %d, %v, want 1", one, err)
				}
				return
			}
			if err == nil {
				conn.Close()
				t.Fatalf("got no error, want %v", tt.wantErr)
			}
			t.Logf("error: %v", err)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
			if tt.wantAs != nil && !errors.As(err, tt.wantAs) {
				t.Errorf("got %v, want it to wrap %T", err, tt.wantAs)
			}
			for _, want := range tt.wantInMsg {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("got %q, want it to contain %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "wrong-pw") || strings.Contains(err.Error(), securePassword) {
				t.Errorf("got %q, want no password in the error", err)
			}
		})
	}
}

func TestConfigNeverShowsPassword(t *testing.T) {
	cfg := analytics.Config{Addr: "ch:9440", User: "analyst", Password: securePassword, Database: "surge",
		TLS: analytics.TLSConfig{CAFile: "/etc/ca.pem"}}
	var logs strings.Builder
	slog.New(slog.NewTextHandler(&logs, nil)).Info("clickhouse", "config", cfg)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("clickhouse", "config", cfg)
	outs := []string{logs.String()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		outs = append(outs, fmt.Sprintf(verb, cfg), fmt.Sprintf(verb, &cfg))
	}
	for _, out := range outs {
		if strings.Contains(out, securePassword) || strings.Contains(out, fmt.Sprintf("%x", securePassword)) {
			t.Errorf("got %q, want the password redacted", out)
		}
	}
	if got := fmt.Sprint(cfg); !strings.Contains(got, "user=analyst") || !strings.Contains(got, "password=[redacted]") ||
		!strings.Contains(got, "tls=true") {
		t.Errorf("got %q, want user, redacted password and tls", got)
	}
}

func TestOpenTLSSettingsInvalid(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name    string
		cfg     analytics.Config
		wantErr string
	}{
		{"missing CA file", analytics.Config{TLS: analytics.TLSConfig{CAFile: "/no/such/ca.pem"}}, "no such file"},
		{"missing password file", analytics.Config{PasswordFile: "/no/such/pw"}, "clickhouse password file"},
	} {
		_, err := analytics.Open(ctx, tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: got %v, want an error containing %q", tt.name, err, tt.wantErr)
		}
	}
}
