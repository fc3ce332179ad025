package triggers_test

import (
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/triggers"
	"github.com/surgeio/surge/stream/triggers/rules"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// checkSet compares issued coupons with the expected ids: no duplicate, no
// missing, nothing extra.
func checkSet(t *testing.T, got []*schemas.Coupon, want map[string]string) {
	t.Helper()
	seen := map[string]bool{}
	for _, c := range got {
		if seen[c.CouponID] {
			t.Errorf("coupon %s (user %s, rule %s) issued twice", c.CouponID, c.UserID, c.RuleID)
		}
		seen[c.CouponID] = true
		if want[c.CouponID] == "" {
			t.Errorf("coupon %s (user %s, rule %s) issued, not expected", c.CouponID, c.UserID, c.RuleID)
		}
	}
	missing := map[string]int{}
	n := 0
	for id, rule := range want {
		if !seen[id] {
			missing[rule]++
			n++
		}
	}
	if n > 0 {
		t.Errorf("%d of %d expected coupons missing, by rule: %v", n, len(want), missing)
	}
}

func TestRunnerIssuesWhatTheEngineSays(t *testing.T) {
	brokers := kafka(t, testenv.DefaultPartitions)
	_, set := writeRules(t, testRules)
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Now().Add(-10 * time.Minute)
	recs := genInput(rng, 6000, 300, base)
	produce(t, brokers, recs)

	r, stop := runRunner(t, brokers, set)
	first := expected(t, set, recs, testenv.DefaultPartitions)
	got := coupons(t, brokers, len(first), 5*time.Second, 60*time.Second)
	stop()
	checkSet(t, got, first)
	st := r.Stats()
	if st.Commits == 0 || st.Issued != int64(len(got)) || st.Late != 0 {
		t.Errorf("stats: got %+v; want commits, %d issued, no late events", st, len(got))
	}

	// A second instance in the same group restores the state from the
	// changelog and continues: more input, no coupon twice.
	more := genInput(rng, 3000, 300, base.Add(time.Minute))
	produce(t, brokers, more)
	r2, _ := runRunner(t, brokers, set)
	want := expected(t, set, append(recs, more...), testenv.DefaultPartitions)
	got = coupons(t, brokers, len(want), 5*time.Second, 60*time.Second)
	checkSet(t, got, want)
	if r2.Stats().Restored == 0 {
		t.Errorf("the second runner restored no changelog records")
	}
	t.Logf("%d coupons for %d events", len(want), len(recs)+len(more))
}

func TestLateEventsAreRecorded(t *testing.T) {
	brokers := kafka(t, 1)
	_, set := writeRules(t, testRules)
	now := time.Now()
	r, stop := runRunner(t, brokers, set, triggers.WithIdleTimeout(500*time.Millisecond))
	wait := func(n int64) {
		deadline := time.Now().Add(30 * time.Second)
		for r.Stats().Records < n && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	ev := func(at time.Time) *schemas.UserEvent {
		return &schemas.UserEvent{EventID: schemas.NewEventID(), UserID: "u-1", SessionID: "s", Type: schemas.EventPageView, TS: at}
	}
	produceRecords(t, brokers, ev(now), ev(now.Add(time.Second)))
	wait(2)
	// A minute behind the newest user event (allowed lateness 1s): late,
	// however far the orders input is behind (it delivered nothing).
	produceRecords(t, brokers, ev(now.Add(-time.Minute)), ev(now.Add(500*time.Millisecond)))
	wait(4)
	stop()
	if got := r.Stats().Late; got != 1 {
		t.Errorf("got %d late events, want 1", got)
	}
	dls := readDeadLetters(t, brokers)
	if len(dls) != 1 || !strings.HasPrefix(dls[0].Reason, "late: ") || dls[0].SourceTopic != topics.UserEvents || dls[0].SourceOffset != 2 {
		t.Errorf("dead letters: got %+v, want one with reason late from %s offset 2", dls, topics.UserEvents)
	}
}

func TestTwoInstancesKeepBudgetsAndCaps(t *testing.T) {
	if testing.Short() {
		t.Skip("rebalance test is long; runs without -short (and always in CI)")
	}
	brokers := kafka(t, testenv.DefaultPartitions)
	doc := strings.Replace(testRules, "cap: 2,", "cap: 2, budget: {coupons: 40},", 1)
	doc = strings.Replace(doc, "kind: first, events: [search],", "kind: first, events: [search], budget: {value: 3000},", 1)
	_, set := writeRules(t, doc)
	rng := rand.New(rand.NewPCG(3, 4))
	base := time.Now().Add(-10 * time.Minute)

	a, stopA := runRunner(t, brokers, set, triggers.WithInstanceID("a"))
	var total int
	for round := range 6 {
		recs := genInput(rng, 2000, 400, base.Add(time.Duration(round)*2*time.Second))
		produce(t, brokers, recs)
		total += len(recs)
		switch round {
		case 1:
			runRunner(t, brokers, set, triggers.WithInstanceID("b")) // joins: rebalance
		case 3:
			stopA() // leaves: rebalance
		case 4:
			a, stopA = runRunner(t, brokers, set, triggers.WithInstanceID("a")) // back: rebalance
		}
		time.Sleep(time.Second)
	}
	_ = a
	got := coupons(t, brokers, 1, 8*time.Second, 60*time.Second)
	byRule := map[string]int{}
	value := map[string]int64{}
	perUser := map[string]int{}
	seen := map[string]bool{}
	for _, c := range got {
		if seen[c.CouponID] {
			t.Errorf("coupon %s issued twice", c.CouponID)
		}
		seen[c.CouponID] = true
		byRule[c.RuleID]++
		value[c.RuleID] += c.Value
		perUser[c.RuleID+"/"+c.UserID]++
	}
	if byRule["cart"] > 40 {
		t.Errorf("rule cart: got %d coupons, budget is 40", byRule["cart"])
	}
	if byRule["cart"] < 30 {
		t.Errorf("rule cart: got %d coupons; with %d events the budget of 40 should be nearly spent", byRule["cart"], total)
	}
	if value["first"] > 3000 {
		t.Errorf("rule first: got value %d, budget is 3000", value["first"])
	}
	for k, n := range perUser {
		if strings.HasPrefix(k, "cart/") && n > 2 || !strings.HasPrefix(k, "cart/") && strings.HasPrefix(k, "first/") && n > 1 {
			t.Errorf("%s: got %d coupons, cap exceeded", k, n)
		}
	}
	t.Logf("coupons by rule %v over %d events", byRule, total)
}

func TestReloadRejectsBadFileAndKeepsOldRules(t *testing.T) {
	brokers := kafka(t, 1)
	path, set := writeRules(t, testRules)
	r, stop := runRunner(t, brokers, set, triggers.WithTick(20*time.Millisecond))
	defer stop()

	bad := strings.Replace(testRules, "count: 3", "count: -3", 1)
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	err := r.ReloadFile(path)
	if err == nil || !strings.Contains(err.Error(), ":5: rules[0].count: must be at least 1") {
		t.Fatalf("reload of a bad file: got %v, want an error naming line 5 and rules[0].count", err)
	}
	if r.Rules() != set {
		t.Errorf("after a rejected reload the rules in force changed")
	}
	// The old rules still issue coupons.
	now := time.Now()
	ev := &schemas.UserEvent{EventID: schemas.NewEventID(), UserID: "u-1", SessionID: "s", Type: schemas.EventSearch, TS: now}
	produceRecords(t, brokers, ev)
	if got := coupons(t, brokers, 1, 0, 30*time.Second); len(got) != 1 || got[0].RuleID != "first" {
		t.Fatalf("after the rejected reload: got %d coupons, want 1 from rule first", len(got))
	}

	// A valid new file is applied: a new rule fires.
	good := testRules + "  - {id: views, campaign: c, kind: count, events: [page_view], count: 1, within: 1m, coupon: {value: 1, currency: USD, expires: 1h}}\n"
	if err := os.WriteFile(path, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.ReloadFile(path); err != nil {
		t.Fatal(err)
	}
	produceRecords(t, brokers, &schemas.UserEvent{EventID: schemas.NewEventID(), UserID: "u-2", SessionID: "s", Type: schemas.EventPageView, TS: now})
	got := coupons(t, brokers, 2, 0, 30*time.Second)
	if len(got) != 2 || got[1].RuleID != "views" {
		t.Errorf("after a good reload: got %d coupons, want 2, the second from rule views", len(got))
	}
}

func TestSampleRulesMatchDeployCopy(t *testing.T) {
	deploy, err := os.ReadFile("../../deploy/rules/holiday.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(deploy) != string(triggers.SampleRules) {
		t.Errorf("stream/triggers/sample/holiday.yaml differs from deploy/rules/holiday.yaml; copy it over")
	}
	if _, err := triggers.SampleRuleSet(); err != nil {
		t.Errorf("sample rules: %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	set, _ := triggers.SampleRuleSet()
	tests := []struct {
		name string
		opts []triggers.Opt
		want string
	}{
		{"no brokers", []triggers.Opt{triggers.WithRules(set)}, "no Kafka brokers"},
		{"no rules", []triggers.Opt{triggers.WithClient(stream.ClientConfig{Brokers: []string{"x:1"}})}, "no rules"},
		{"short txn timeout", []triggers.Opt{triggers.WithClient(stream.ClientConfig{Brokers: []string{"x:1"}}), triggers.WithRules(set), triggers.WithTransactionTimeout(time.Millisecond)}, "transaction timeout"},
	}
	for _, tt := range tests {
		if _, err := triggers.New(tt.opts...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
	_ = rules.ErrInvalid
}
