package rules

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestParseSampleFile(t *testing.T) {
	set, err := Load("../../../deploy/rules/holiday.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(set.Rules), 5; got != want {
		t.Errorf("got %d rules, want %d", got, want)
	}
	if got, want := len(set.Enabled()), 4; got != want {
		t.Errorf("got %d enabled rules, want %d", got, want)
	}
	r := set.Rule("red-envelope")
	if r == nil || r.Kind != KindSum || r.Within != 0 || r.Threshold != 200000 || r.SumCurrency != "KRW" || r.Budget.Coupons != 10000 {
		t.Errorf("red-envelope: got %+v, want a campaign-window KRW sum of 200000 with a 10000 coupon budget", r)
	}
	if loc := set.Campaigns["lunar-new-year"].Location.String(); loc != "Asia/Shanghai" {
		t.Errorf("lunar-new-year zone: got %s, want Asia/Shanghai", loc)
	}
}

func TestParseErrorsPointAtLineAndField(t *testing.T) {
	head := "campaigns:\n  - {id: c, timezone: UTC, start: \"2026-01-01\", end: \"2027-01-01\"}\nrules:\n"
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"bad yaml", "campaigns: [\n", []string{"bad.yaml:1: not valid YAML"}},
		{"unknown top field", "campain: x\n" + head + "  - {id: r, campaign: c, kind: first, events: [search], coupon: {value: 1, currency: USD, expires: 1h}}\n",
			[]string{"bad.yaml:1: campain: unknown field"}},
		{"unknown zone", "campaigns:\n  - id: c\n    timezone: Mars/Olympus\n    start: 2026-01-01\n    end: 2027-01-01\nrules: []\n",
			[]string{"bad.yaml:3: campaigns[0].timezone: unknown time zone \"Mars/Olympus\""}},
		{"end before start", "campaigns:\n  - id: c\n    timezone: UTC\n    start: 2026-01-02\n    end: 2026-01-01\nrules: []\n",
			[]string{"bad.yaml:5: campaigns[0].end: must be after start"}},
		{"negative coupon value", head + "  - id: r\n    campaign: c\n    kind: first\n    events: [search]\n    coupon:\n      value: -5\n      currency: USD\n      expires: 1h\n",
			[]string{"bad.yaml:9: rules[0].coupon.value: must be at least 1, got -5"}},
		{"unknown event type and campaign", head + "  - id: r\n    campaign: nope\n    kind: count\n    events: [add_to_kart]\n    count: 2\n    within: 10m\n    coupon: {value: 1, currency: USD, expires: 1h}\n",
			[]string{"bad.yaml:5: rules[0].campaign: unknown campaign \"nope\"", "bad.yaml:7: rules[0].events: unknown event type \"add_to_kart\""}},
		{"missing within and bad currency", head + "  - id: r\n    campaign: c\n    kind: count\n    events: [search]\n    count: 2\n    coupon: {value: 1, currency: usd, expires: 1h}\n",
			[]string{"bad.yaml:4: rules[0].within: missing", "bad.yaml:9: rules[0].coupon.currency: not an ISO 4217 currency code"}},
		{"field of another kind", head + "  - id: r\n    campaign: c\n    kind: first\n    events: [search]\n    threshold: 5\n    coupon: {value: 1, currency: USD, expires: 1h}\n",
			[]string{"bad.yaml:8: rules[0].threshold: not allowed on a first rule"}},
		{"duplicate rule id", head + "  - {id: r, campaign: c, kind: first, events: [search], coupon: {value: 1, currency: USD, expires: 1h}}\n  - {id: r, campaign: c, kind: first, events: [search], coupon: {value: 1, currency: USD, expires: 1h}}\n",
			[]string{"bad.yaml:5: rules[1].id: rule \"r\" defined twice"}},
		{"bad duration", head + "  - {id: r, campaign: c, kind: absence, events: [add_to_cart], absent: [order], within: 10 minutes, coupon: {value: 1, currency: USD, expires: 1h}}\n",
			[]string{"bad.yaml:4: rules[0].within: must be a positive duration"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("bad.yaml", []byte(tt.doc))
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got error %v, want a *ValidationError wrapping ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got error:\n%v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func TestParseErrorMessageGolden(t *testing.T) {
	doc := "campaigns:\n  - {id: c, timezone: UTC, start: \"2026-01-01\", end: \"2027-01-01\"}\nrules:\n  - id: r\n    campaign: c\n    kind: sum\n    threshold: 0\n    coupon: {value: 1, currency: USD}\n    cap: -1\n"
	_, err := Parse("holiday.yaml", []byte(doc))
	if err == nil {
		t.Fatal("got no error, want one")
	}
	golden := "testdata/errors.golden"
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		_ = os.WriteFile(golden, []byte(err.Error()+"\n"), 0o644)
	}
	want, rerr := os.ReadFile(golden)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if got := err.Error() + "\n"; got != string(want) {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
