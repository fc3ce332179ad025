package main

import (
	"strings"
	"testing"

	"github.com/surgeio/surge/internal/testenv"
)

// TestUpVerifiesTheRun runs `surge up` end to end on a fresh data
// directory (embedded broker, local ClickHouse, sink, dispatch fleet,
// triggers, generator with coupon redemption): it must check that
// ClickHouse holds exactly the acknowledged records, and exactly the
// orders that redeemed a coupon, and print the campaign summary.
func TestUpVerifiesTheRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline; without -short (and always in CI)")
	}
	testenv.ClickHouse(t) // fails in CI, skips elsewhere, when clickhouse-server is missing
	dir := t.TempDir()
	out, stderr, err := run(t, "up", "--data-dir", dir, "--duration", "8s", "--rate", "2000", "--seed", "7", "--no-progress")
	if err != nil {
		t.Fatalf("surge up: %v\n%s\n%s", err, out, stderr)
	}
	for _, want := range []string{
		"verified: ClickHouse holds exactly the",
		"orders redeeming a coupon:",
		"dispatch inventory handled",
		"coupons issued live:",
		"COUPONS_REDEEMED",
		"campaign page: http://127.0.0.1:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("surge up output lacks %q:\n%s", want, out)
		}
	}
}
