package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRulesValidate(t *testing.T) {
	out, _, err := run(t, "rules", "validate", "../../deploy/rules/holiday.yaml")
	if err != nil {
		t.Fatalf("validate the sample: %v", err)
	}
	if !strings.Contains(out, "valid, 5 rules (4 enabled), 2 campaigns") || !strings.Contains(out, "red-envelope (sum, campaign lunar-new-year, enabled)") {
		t.Errorf("got output:\n%s\nwant the rule summary", out)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	doc := "campaigns:\n  - {id: c, timezone: Nowhere/City, start: 2026-01-01, end: 2027-01-01}\nrules: []\n"
	if err := os.WriteFile(bad, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = run(t, "rules", "validate", bad)
	if err == nil || !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "bad.yaml:2: campaigns[0].timezone: unknown time zone") {
		t.Errorf("got error %v, want a usage error naming bad.yaml:2 and campaigns[0].timezone", err)
	}
	if code := exitCode(t.Context(), err); code != exitUsage {
		t.Errorf("got exit code %d, want %d", code, exitUsage)
	}
}
