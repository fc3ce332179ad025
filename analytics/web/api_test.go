package web_test

import (
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
)

// TestAPIMatchesReportCommand asks the API and the surge report command
// (the built binary, against the same database) for every rollup report
// under several filters: the answers must be the same bytes. The API's
// connection keeps campaign_buyers' parts in memory, as surge ui does; the
// command counts buyers in SQL.
func TestAPIMatchesReportCommand(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	end := time.Now().UTC().Truncate(time.Minute)
	testenv.WriteShop(t, conn, 1, 6, end)
	testenv.WriteShop(t, conn, 2, 6, end.Add(-time.Minute)) // a second part of campaign_buyers
	conn.KeepBuyersParts()
	base := serve(t, newServer(t, conn))
	bin := testenv.SurgeBinary(t)
	from, to := end.Add(-90*time.Second).Format(time.RFC3339), end.Format(time.RFC3339)
	filters := []map[string]string{
		{},
		{"campaign": "hatsuuri"},
		{"from": from},
		{"campaign": "black-friday", "from": from, "to": to},
		{"campaign": "black-friday' OR '1'='1"},
		{"campaign": "no-such-campaign", "from": "2h"},
	}
	for _, name := range analytics.RollupReportNames() {
		for _, f := range filters {
			q := url.Values{}
			args := []string{"report", name, "--output", "json", "--clickhouse", testenv.ClickHouse(t).Addr(),
				"--clickhouse-database", conn.Database()}
			for k, v := range f {
				q.Set(k, v)
				args = append(args, "--"+k, v)
			}
			resp, got := get(t, "GET", base+"/api/reports/"+name+"?"+q.Encode())
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s %v: status %d: %s", name, f, resp.StatusCode, got)
				continue
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("%s: Content-Type %q, want application/json", name, ct)
			}
			cmd := exec.Command(bin, args...)
			cmd.Dir = t.TempDir()
			want, err := cmd.Output()
			if err != nil {
				t.Fatalf("surge %v: %v", args, err)
			}
			if got != string(want) {
				t.Errorf("%s %v:\nAPI    %s\nreport %s", name, f, got, want)
			}
		}
	}
	// The filters worked: one campaign, and the SQL-looking one matched none.
	_, body := get(t, "GET", base+"/api/reports/campaign-summary?campaign=hatsuuri")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(body), &rows); err != nil || len(rows) != 1 || rows[0]["campaign"] != "hatsuuri" {
		t.Errorf("campaign-summary?campaign=hatsuuri: got %s (%v), want one hatsuuri row", body, err)
	}
}

// TestAPIBadInput sends injection attempts and malformed parameters: each
// answers 400 (or 404 for what is not served) or an empty result, and the
// data is untouched.
func TestAPIBadInput(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	testenv.WriteShop(t, conn, 1, 4, time.Now().UTC())
	base := serve(t, newServer(t, conn))
	empty := []string{
		"black-friday' OR '1'='1",
		"x'; DROP TABLE orders; --",
		"black-friday') UNION ALL SELECT name, '', 0, 0, 0, 0., 0, 0 FROM system.tables --",
		`black-friday\' OR 1=1 --`,
		"?",
		"%",
	}
	for _, c := range empty {
		for _, name := range analytics.RollupReportNames() {
			resp, body := get(t, "GET", base+"/api/reports/"+name+"?campaign="+url.QueryEscape(c))
			if resp.StatusCode != http.StatusOK || strings.TrimSpace(body) != "[]" {
				t.Errorf("%s campaign=%q: got %d %s, want 200 []", name, c, resp.StatusCode, body)
			}
		}
	}
	for _, tt := range []struct {
		path   string
		status int
		want   string
	}{
		{"/api/reports/campaign-summary?from=1h%3BDROP%20TABLE%20orders", 400, "neither an RFC 3339 time"},
		{"/api/reports/campaign-summary?from=1h;DROP%20TABLE%20orders", 400, "semicolon"},
		{"/api/reports/campaign-summary?from=2026-11-27T00:00:00Z'%20OR%201=1", 400, "from"},
		{"/api/reports/campaign-summary?to=-5m", 400, "to"},
		{"/api/reports/campaign-summary?from=1h&to=2h", 400, "is not before"},
		{"/api/reports/campaign-summary?campaign=a&campaign=b", 400, "given 2 times"},
		{"/api/reports/campaign-summary?campaign_id=a", 400, `unknown parameter \"campaign_id\"`},
		{"/api/reports/campaign-summary?campaign=" + strings.Repeat("x", 201), 400, "longer than"},
		{"/api/reports/campaign-summary?%zz", 400, "query string"},
		{"/api/live?from=yesterday", 400, "from"},
		{"/api/reports/top-skus", 404, "reads raw tables"},
		{"/api/reports/orders;DROP%20TABLE%20orders", 404, "not served"},
		{"/api/reports/..%2f..%2fetc%2fpasswd", 404, ""},
		{"/etc/passwd", 404, ""},
	} {
		resp, body := get(t, "GET", base+tt.path)
		if resp.StatusCode != tt.status || !strings.Contains(body, tt.want) {
			t.Errorf("GET %s: got %d %s, want %d containing %q", tt.path, resp.StatusCode, body, tt.status, tt.want)
		}
	}
	var n uint64
	if err := conn.DB().QueryRow(t.Context(), "SELECT count() FROM orders").Scan(&n); err != nil || n != 12 {
		t.Errorf("orders after the attempts: %d (%v), want 12", n, err)
	}
}

// TestReadOnlyAndHeaders checks the safety defaults: GET only, the
// security headers on every answer, loopback Host names only.
func TestReadOnlyAndHeaders(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	base := serve(t, newServer(t, conn))
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
		for _, p := range []string{"/", "/api/reports/campaign-summary", "/api/live"} {
			resp, _ := get(t, m, base+p)
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: got %d Allow %q, want 405 Allow GET, HEAD", m, p, resp.StatusCode, resp.Header.Get("Allow"))
			}
		}
	}
	for _, p := range []string{"/", "/static/app.js", "/static/style.css", "/api/reports", "/api/reports/campaign-summary", "/nope"} {
		resp, _ := get(t, "GET", base+p)
		for h, want := range map[string]string{
			"X-Frame-Options":        "DENY",
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "no-referrer",
		} {
			if got := resp.Header.Get(h); got != want {
				t.Errorf("GET %s: %s = %q, want %q", p, h, got, want)
			}
		}
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", p, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("GET %s: CSP %q allows inline code", p, csp)
		}
	}
	resp, body := get(t, "GET", base+"/")
	if resp.StatusCode != 200 || !strings.Contains(body, `<script src="/static/app.js"`) || strings.Contains(body, "<script>") ||
		strings.Contains(body, "style=") || strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Errorf("GET /: %d, want the page with its own script, no inline script or style, nothing from another origin:\n%s", resp.StatusCode, body)
	}
	for _, host := range []string{"evil.example", "evil.example:80", "127.0.0.1.evil.example"} {
		resp, _ := get(t, "GET", base+"/api/reports", "Host: "+host)
		if resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("Host %s: got %d, want 421", host, resp.StatusCode)
		}
	}
	for _, host := range []string{"localhost:1234", "127.0.0.1", "[::1]:80"} {
		resp, _ := get(t, "GET", base+"/api/reports", "Host: "+host)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("Host %s: got %d, want 200", host, resp.StatusCode)
		}
	}
}
