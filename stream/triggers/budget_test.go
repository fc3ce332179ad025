package triggers_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/stream/triggers"
)

// TestBudgetGauge: one instance owns every partition, so its remaining
// budget ratio is exactly 1 - coupons issued / budget.
func TestBudgetGauge(t *testing.T) {
	brokers := kafka(t, testenv.DefaultPartitions)
	doc := strings.Replace(testRules, "cap: 2,", "cap: 2, budget: {coupons: 40},", 1)
	_, set := writeRules(t, doc)
	reg := prometheus.NewRegistry()
	runRunner(t, brokers, set, triggers.WithRegisterer(reg))
	rng := rand.New(rand.NewPCG(5, 6))
	produce(t, brokers, genInput(rng, 600, 200, time.Now().Add(-5*time.Minute)))
	got := coupons(t, brokers, 1, 5*time.Second, 60*time.Second)
	cart := 0
	for _, c := range got {
		if c.RuleID == "cart" {
			cart++
		}
	}
	if cart == 0 {
		t.Fatal("no coupon from rule cart; the test input should earn some")
	}
	g, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var ratio float64 = -1
	series := 0
	for _, mf := range g {
		if mf.GetName() != "surge_triggers_budget_remaining_ratio" {
			continue
		}
		for _, m := range mf.GetMetric() {
			series++
			for _, l := range m.GetLabel() {
				if l.GetName() == "rule" && l.GetValue() == "cart" {
					ratio = m.GetGauge().GetValue()
				}
			}
		}
	}
	want := 1 - float64(cart)/40
	if math.Abs(ratio-want) > 1e-9 {
		t.Errorf("surge_triggers_budget_remaining_ratio{rule=cart}: got %v, want %v (%d of 40 coupons issued)", ratio, want, cart)
	}
	if n := series; n != 1 {
		t.Errorf("got %d budget series, want 1 (only rule cart has a budget)", n)
	}
}
