package loadgen

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestGoldenSequence pins the first records of seed 2024, so a change to the
// traffic model that alters the sequence of a given seed is a visible
// decision: rerun with -update and review the diff.
func TestGoldenSequence(t *testing.T) {
	rec, _ := generate(t, Config{Seed: 2024, MaxRecords: 60, Users: 24})
	var b strings.Builder
	for _, r := range rec.acked {
		b.WriteString(fingerprint(r))
		b.WriteByte('\n')
	}
	path := filepath.Join("testdata", "seed2024.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatalf("write golden: %v", err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("sequence of seed 2024 differs from %s:\n got:\n%s\nwant:\n%s", path, got, want)
	}
}
