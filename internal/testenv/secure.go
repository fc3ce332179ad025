package testenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/stream/broker/brokertest"
)

// SecureClickHouse is a private local clickhouse-server with a
// password-protected user and a TLS native port.
type SecureClickHouse struct {
	// PlainAddr is the plaintext native port, TLSAddr the secure one,
	// whose certificate CAFile signs (valid for 127.0.0.1 and localhost).
	PlainAddr, TLSAddr, CAFile string
	// User and Password are the protected user's.
	User, Password string
}

// StartSecureClickHouse starts a private clickhouse-server (not the shared
// one) whose user has password, with a TLS native port, both added through
// the server's config.d and users.d merge directories next to the
// generated config; it stops when the test ends.
func StartSecureClickHouse(t testing.TB, user, password string) SecureClickHouse {
	t.Helper()
	ca := brokertest.NewCA(t, "clickhouse")
	cert, key := ca.Issue(t, "clickhouse", "127.0.0.1", "localhost")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	files := map[string]string{
		"config.d/secure.xml": fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
    <tcp_port_secure>%d</tcp_port_secure>
    <openSSL><server>
        <certificateFile>%s</certificateFile>
        <privateKeyFile>%s</privateKeyFile>
        <verificationMode>none</verificationMode>
        <loadDefaultCAFile>false</loadDefaultCAFile>
    </server></openSSL>
</yandex>
`, tlsPort, cert, key),
		"users.d/secure-user.xml": fmt.Sprintf(`<?xml version="1.0"?>
<yandex><users><%[1]s>
    <password>%[2]s</password>
    <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
    <profile>default</profile><quota>default</quota>
</%[1]s></users></yandex>
`, user, password),
	}
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := analytics.StartLocal(ctx, dir, analytics.WithLogger(slog.New(slog.DiscardHandler)))
	if errors.Is(err, analytics.ErrServerNotInstalled) {
		Unavailable(t, "clickhouse-server not installed")
	}
	if err != nil {
		t.Fatalf("start local clickhouse with TLS and a password user: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("stop local clickhouse with TLS and a password user: %v", err)
		}
	})
	return SecureClickHouse{
		PlainAddr: srv.Addr(),
		TLSAddr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort)),
		CAFile:    ca.CertFile,
		User:      user,
		Password:  password,
	}
}
