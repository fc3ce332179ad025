package testenv

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// Promtool checks a Prometheus text exposition with `promtool check
// metrics` (Debian package prometheus) and fails the test with promtool's
// findings, naming what was checked. Without promtool the test is
// Unavailable.
func Promtool(t testing.TB, what string, exposition []byte) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		Unavailable(t, "promtool not found (apt-get install prometheus)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(exposition)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics of %s: %v\n%s", what, err, strings.TrimSpace(string(out)))
	}
}

// Exposition renders what g gathers in the Prometheus text format, leaving
// out the families drop reports.
func Exposition(t testing.TB, g prometheus.Gatherer, drop func(name string) bool) []byte {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if drop != nil && drop(mf.GetName()) {
			continue
		}
		if err := enc.Encode(mf); err != nil {
			t.Fatalf("encode %s: %v", mf.GetName(), err)
		}
	}
	return b.Bytes()
}
