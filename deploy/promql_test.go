package deploy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var (
	quotedRE   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	selectorRE = regexp.MustCompile(`\b(surge_[a-zA-Z0-9_]+)\s*(\{[^}]*\})?`)
	matcherRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	groupingRE = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	grafanaRE  = regexp.MustCompile(`\$\{[^}]*\}|\$__[a-z_]+|\$[a-zA-Z_][a-zA-Z0-9_]*`)
)

// checkPromQL checks a PromQL expression without a PromQL parser: brackets
// balance, every surge_* metric it reads is one surge serves (histogram
// series by their _bucket, _sum and _count), every label matched in a
// selector is a label of that metric, and every by/without label is a label
// of some metric the expression reads. Grafana variables are replaced by
// harmless values first.
func checkPromQL(expr string, c metricCatalog) []error {
	expr = grafanaRE.ReplaceAllStringFunc(expr, func(v string) string {
		if strings.Contains(v, "interval") {
			return "5m"
		}
		return "x"
	})
	var errs []error
	if err := balanced(expr); err != nil {
		errs = append(errs, err)
	}
	// Matchers keep their quoted values out of the name scan but stay in
	// place for the label scan.
	bare := quotedRE.ReplaceAllString(expr, `""`)
	used := map[string]bool{"le": true}
	found := 0
	for _, m := range selectorRE.FindAllStringSubmatch(bare, -1) {
		name, sel := m[1], m[2]
		labels, ok := c[name]
		if !ok {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, cut := strings.CutSuffix(name, suffix); cut {
					if labels, ok = c[base]; ok {
						break
					}
				}
			}
		}
		if !ok {
			errs = append(errs, fmt.Errorf("metric %s: surge serves no such metric", name))
			continue
		}
		found++
		for _, l := range labels {
			used[l] = true
		}
		for _, lm := range matcherRE.FindAllStringSubmatch(sel, -1) {
			if l := lm[1]; l != "le" && l != "__name__" && !slices.Contains(labels, l) {
				errs = append(errs, fmt.Errorf("metric %s: matcher on label %q, which it does not have (labels %v)", name, l, labels))
			}
		}
	}
	if found == 0 {
		errs = append(errs, fmt.Errorf("expression %q reads no surge metric", expr))
	}
	for _, g := range groupingRE.FindAllStringSubmatch(bare, -1) {
		for _, l := range strings.Split(g[1], ",") {
			if l = strings.TrimSpace(l); l != "" && !used[l] {
				errs = append(errs, fmt.Errorf("grouping by %q: no metric in the expression has that label", l))
			}
		}
	}
	return errs
}

// balanced checks (), [] and {} outside quoted strings.
func balanced(expr string) error {
	var stack []rune
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	for _, r := range quotedRE.ReplaceAllString(expr, `""`) {
		switch r {
		case '(', '[', '{':
			stack = append(stack, r)
		case ')', ']', '}':
			if len(stack) == 0 || stack[len(stack)-1] != pairs[r] {
				return fmt.Errorf("unbalanced %q in %q", r, expr)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 {
		return fmt.Errorf("unclosed %q in %q", stack[len(stack)-1], expr)
	}
	return nil
}

func TestCheckPromQL(t *testing.T) {
	c := metricCatalog{"surge_a_total": {"group"}, "surge_h_seconds": nil}
	tests := []struct {
		expr string
		ok   bool
	}{
		{`sum by (group) (rate(surge_a_total{group="x"}[5m])) > 0`, true},
		{`histogram_quantile(0.99, sum by (le) (rate(surge_h_seconds_bucket[$__rate_interval])))`, true},
		{`sum(rate(surge_a_total{group=~"$group"}[5m]))`, true},
		{`sum(rate(surge_b_total[5m]))`, false},
		{`sum(rate(surge_a_total{topic="x"}[5m]))`, false},
		{`sum by (topic) (surge_a_total)`, false},
		{`sum(rate(surge_a_total[5m])`, false},
		{`up`, false},
	}
	for _, tt := range tests {
		if errs := checkPromQL(tt.expr, c); (len(errs) == 0) != tt.ok {
			t.Errorf("checkPromQL(%q): got %v, want ok=%v", tt.expr, errs, tt.ok)
		}
	}
}
