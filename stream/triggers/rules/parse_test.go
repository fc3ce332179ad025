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

// A rules file over MaxFileBytes is refused before parsing; so is the same
// content passed to Parse. YAML with a second document is refused naming
// the line, instead of the second document being ignored.
func TestRulesFileLimits(t *testing.T) {
	sample, err := os.ReadFile("../../../deploy/rules/holiday.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Valid rules padded with comments past the limit: only the size is
	// wrong.
	big := append(append([]byte(nil), sample...), strings.Repeat("# padding\n", MaxFileBytes/10+1)...)
	path := t.TempDir() + "/big.yaml"
	if err := os.WriteFile(path, big, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, load := range map[string]func() (*Set, error){
		"Load":  func() (*Set, error) { return Load(path) },
		"Parse": func() (*Set, error) { return Parse(path, big) },
	} {
		_, err := load()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "over the limit of 1048576") {
			t.Errorf("%s of a %d-byte file: got %v, want it refused for its size", name, len(big), err)
		}
	}
	if _, err := Parse("ok.yaml", append(append([]byte(nil), sample...), strings.Repeat("# padding\n", 1000)...)); err != nil {
		t.Errorf("a file under the limit: got %v, want it parsed", err)
	}

	lines := strings.Count(string(sample), "\n")
	for name, tt := range map[string]struct {
		doc      string
		wantLine int
	}{
		"second document":               {string(sample) + "---\n" + string(sample), lines + 2},
		"leading marker, then a second": {"---\n" + string(sample) + "---\nrules: []\n", lines + 3},
		"second document not YAML":      {string(sample) + "---\n: [\n", lines + 1},
	} {
		_, err := Parse("multi.yaml", []byte(tt.doc))
		var ve *ValidationError
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), "second YAML document") {
			t.Errorf("%s: got %v, want a second-document error", name, err)
			continue
		}
		if got := ve.Problems[0].Line; got < tt.wantLine-1 || got > tt.wantLine {
			t.Errorf("%s: got line %d, want about %d", name, got, tt.wantLine)
		}
	}
	for name, doc := range map[string]string{
		"leading marker":  "---\n" + string(sample),
		"trailing marker": string(sample) + "---\n",
		"end marker":      string(sample) + "...\n",
	} {
		if _, err := Parse("one.yaml", []byte(doc)); err != nil {
			t.Errorf("%s: got %v, want one document parsed", name, err)
		}
	}
}
