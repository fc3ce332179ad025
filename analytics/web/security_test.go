package web_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/surgeio/surge/analytics/web"
	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/stream/gateway"
)

func TestListenPolicy(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	open := newServer(t, conn)
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "192.0.2.1:0", "example.com:0"} {
		ln, err := open.Listen(addr)
		if !errors.Is(err, web.ErrNeedsAuth) {
			if ln != nil {
				ln.Close()
			}
			t.Errorf("Listen(%q) without auth: got %v, want ErrNeedsAuth", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0"} {
		ln, err := open.Listen(addr)
		if err != nil {
			t.Errorf("Listen(%q): %v", addr, err)
			continue
		}
		ln.Close()
	}
	withAuth := newServer(t, conn, web.WithAuth(func(string) (bool, bool) { return false, false }))
	ln, err := withAuth.Listen(":0")
	if err != nil {
		t.Fatalf("Listen(:0) with auth: %v", err)
	}
	ln.Close()
}

// TestAuth checks the page and the API behind keys of the gateway's keys
// file: a reports:read key is let in (Basic, Bearer or X-API-Key), a key
// without the scope gets 403, no key or a wrong one 401 asking for Basic
// credentials.
func TestAuth(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	const reader, writer = "sk_reader_0123456789abcdef", "sk_writer_0123456789abcdef"
	keys, err := gateway.NewKeys(
		gateway.Key{Name: "analyst", SHA256: gateway.HashKey(reader), Scopes: []gateway.Scope{gateway.ScopeReportsRead}},
		gateway.Key{Name: "shop", SHA256: gateway.HashKey(writer), Scopes: []gateway.Scope{gateway.ScopeOrdersWrite}},
	)
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, conn, web.WithAuth(func(secret string) (bool, bool) {
		name, ok := keys.Authorize(secret, gateway.ScopeReportsRead)
		return name != "", ok
	}))
	base := serve(t, srv)
	basic := func(user, pass string) string {
		return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	for _, tt := range []struct {
		name   string
		header string
		status int
	}{
		{"no key", "", http.StatusUnauthorized},
		{"wrong key", "Authorization: Bearer sk_nope", http.StatusUnauthorized},
		{"wrong basic password", basic("analyst", "sk_nope"), http.StatusUnauthorized},
		{"other scheme", "Authorization: Digest username=x", http.StatusUnauthorized},
		{"write-only key", "Authorization: Bearer " + writer, http.StatusForbidden},
		{"read key, Bearer", "Authorization: Bearer " + reader, http.StatusOK},
		{"read key, X-API-Key", "X-API-Key: " + reader, http.StatusOK},
		{"read key, Basic", basic("anyone", reader), http.StatusOK},
		{"read key, other Host", "Authorization: Bearer " + reader + "\nHost: surge.example", http.StatusOK},
	} {
		for _, p := range []string{"/", "/api/reports/campaign-summary"} {
			headers := strings.Split(tt.header, "\n")
			if tt.header == "" {
				headers = nil
			}
			resp, body := get(t, "GET", base+p, headers...)
			if resp.StatusCode != tt.status {
				t.Errorf("%s, GET %s: got %d %s, want %d", tt.name, p, resp.StatusCode, body, tt.status)
			}
			if tt.status == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("%s: WWW-Authenticate %q, want a Basic challenge", tt.name, resp.Header.Get("WWW-Authenticate"))
			}
		}
	}
}
