package deploy

import (
	"strings"
	"testing"

	"github.com/surgeio/surge/internal/testenv"
)

// TestMetricsPassPromtool runs `promtool check metrics` over every metric
// family the catalogue's collectors serve (sink, dispatch, triggers, lag,
// gateway and the kprom client metrics): gauges must not end in _total,
// counters must, names carry their units. cmd/surge's
// TestCommandsMetricsPassPromtool checks each command's /metrics as served.
func TestMetricsPassPromtool(t *testing.T) {
	surgeMetrics(t)
	// kprom's buffered gauges are replaced by cmd/surge's sums.
	exp := testenv.Exposition(t, gatherers, func(name string) bool { return strings.HasPrefix(name, "surge_buffered_") })
	if !strings.Contains(string(exp), "surge_gateway_requests_total") || !strings.Contains(string(exp), "surge_dispatch_processed_total") {
		t.Fatalf("the exposition lacks the gateway or dispatch metrics:\n%.2000s", exp)
	}
	testenv.Promtool(t, "the catalogue's metrics", exp)
}
