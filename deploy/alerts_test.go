package deploy

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// rulesFile is a Prometheus rules file.
type rulesFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// runbook is the README section every alert links to.
const runbook = "README.md#runbook-a-peak"

func TestPrometheusAlerts(t *testing.T) {
	var f rulesFile
	readYAML(t, filepath.Join("prometheus", "alerts.yaml"), &f)
	c := surgeMetrics(t)
	var alerts []string
	groups := make(map[string]bool)
	for _, g := range f.Groups {
		if g.Name == "" || groups[g.Name] {
			t.Errorf("group name: got %q, want a unique non-empty name", g.Name)
		}
		groups[g.Name] = true
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			t.Run(r.Alert, func(t *testing.T) {
				if r.Alert == "" || r.Record != "" {
					t.Fatalf("rule: got alert %q record %q, want alerting rules only", r.Alert, r.Record)
				}
				for _, err := range checkPromQL(r.Expr, c) {
					t.Error(err)
				}
				if d, err := time.ParseDuration(r.For); r.For != "" && (err != nil || d < 0) {
					t.Errorf("for: got %q, want a duration", r.For)
				}
				if s := r.Labels["severity"]; s != "warning" && s != "critical" {
					t.Errorf("severity: got %q, want warning or critical", s)
				}
				for _, a := range []string{"summary", "description", "runbook_url"} {
					if strings.TrimSpace(r.Annotations[a]) == "" {
						t.Errorf("annotation %s: got none, want one", a)
					}
				}
				if u := r.Annotations["runbook_url"]; !strings.HasPrefix(u, "https://") || !strings.HasSuffix(u, runbook) {
					t.Errorf("runbook_url: got %q, want an https URL ending in %s", u, runbook)
				}
				for _, a := range r.Annotations {
					if err := balanced(strings.ReplaceAll(strings.ReplaceAll(a, "{{", "("), "}}", ")")); err != nil {
						t.Errorf("annotation template: %v", err)
					}
				}
			})
		}
	}
	for _, want := range []string{"SurgeConsumerLagHigh", "SurgeGroupStalled", "SurgeGroupStopped", "SurgeDeadLettersGrowing",
		"SurgeSinkFreshnessHigh", "SurgeGateway5xxRate", "SurgeCouponBudgetNearlySpent", "SurgeSinkWriteErrors"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("alerts: got %v, want %s among them", alerts, want)
		}
	}
	if n := len(alerts); n != len(slices.Compact(slices.Sorted(slices.Values(alerts)))) {
		t.Errorf("alerts: got %v, want unique names", alerts)
	}
}
