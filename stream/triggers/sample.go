package triggers

import (
	_ "embed"

	"github.com/surgeio/surge/stream/triggers/rules"
)

// SampleRules is the sample holiday rules file (deploy/rules/holiday.yaml),
// built in so that `surge up` can show coupons without any file.
//
//go:embed sample/holiday.yaml
var SampleRules []byte

// SampleRuleSet parses SampleRules.
func SampleRuleSet() (*rules.Set, error) { return rules.Parse("holiday.yaml", SampleRules) }
