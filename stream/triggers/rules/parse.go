package rules

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/surgeio/surge/schemas"
)

// campaignTimeLayouts are the accepted forms of a campaign's start and end:
// a wall-clock time in the campaign's zone.
var campaignTimeLayouts = []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"}

// Parse validates a rules file's content. file names it in errors. Every
// problem is reported with its line and field, as a *ValidationError.
//
// data over MaxFileBytes is refused unparsed, and so is YAML with more than
// one document (a second "---"): every rule must be in the one document
// the triggers read.
func Parse(file string, data []byte) (*Set, error) {
	if len(data) > MaxFileBytes {
		return nil, tooLarge(file, int64(len(data)))
	}
	p := &parser{}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && err != io.EOF {
		line := 0
		msg := err.Error()
		// yaml.v3 errors read "yaml: line N: message".
		if rest, ok := strings.CutPrefix(msg, "yaml: line "); ok {
			if i := strings.Index(rest, ":"); i > 0 {
				line, _ = strconv.Atoi(rest[:i])
				msg = strings.TrimSpace(rest[i+1:])
			}
		}
		return nil, &ValidationError{File: file, Problems: []Problem{{Line: line, Message: "not valid YAML: " + msg}}}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, &ValidationError{File: file, Problems: []Problem{{Line: 1, Message: "empty file"}}}
	}
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if err == io.EOF {
			break
		}
		if err != nil || !emptyDocument(&next) {
			line := next.Line
			if line == 0 {
				line = secondDocumentLine(data)
			}
			return nil, &ValidationError{File: file, Problems: []Problem{{Line: line, Message: "a second YAML document starts here (after a '---' line); " +
				"the rules file must be one document: merge the documents, or remove the '---'"}}}
		}
	}
	set := p.document(doc.Content[0])
	if len(p.probs) > 0 {
		return nil, &ValidationError{File: file, Problems: p.probs}
	}
	set.index()
	return set, nil
}

// emptyDocument reports a document with nothing in it (a trailing "---").
func emptyDocument(n *yaml.Node) bool {
	if len(n.Content) == 0 {
		return true
	}
	c := n.Content[0]
	return len(n.Content) == 1 && c.Kind == yaml.ScalarNode && c.Tag == "!!null" && c.Value == ""
}

// secondDocumentLine is the line of the second "---" document marker (or
// of the first, when the file does not start with one); 0 if none.
func secondDocumentLine(data []byte) int {
	seen := 0
	for i, l := range strings.Split(string(data), "\n") {
		if l == "---" || strings.HasPrefix(l, "--- ") {
			if seen++; seen == 2 || i > 0 && seen == 1 && !startsWithMarker(data) {
				return i + 1
			}
		}
	}
	return 0
}

func startsWithMarker(data []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("---"))
}

type parser struct {
	probs []Problem
}

func (p *parser) fail(n *yaml.Node, field, format string, args ...any) {
	p.probs = append(p.probs, Problem{Line: n.Line, Column: n.Column, Field: field, Message: fmt.Sprintf(format, args...)})
}

// mapping returns the keys of a mapping node with their value nodes,
// reporting unknown and duplicate keys.
func (p *parser) mapping(n *yaml.Node, field string, known ...string) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		p.fail(n, field, "must be a mapping")
		return nil
	}
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		sub := join(field, k.Value)
		if known != nil && !slices.Contains(known, k.Value) {
			p.fail(k, sub, "unknown field (valid: %s)", strings.Join(known, ", "))
			continue
		}
		if _, dup := out[k.Value]; dup {
			p.fail(k, sub, "given twice")
			continue
		}
		out[k.Value] = v
	}
	return out
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

func (p *parser) str(n *yaml.Node, field string) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.fail(n, field, "must be a string")
		return ""
	}
	return n.Value
}

func (p *parser) id(n *yaml.Node, field string) string {
	s := p.str(n, field)
	if n.Kind == yaml.ScalarNode && (s == "" || len(s) > schemas.MaxIDBytes || strings.ContainsAny(s, "\x00\n\t ")) {
		p.fail(n, field, "must be a non-empty id of at most %d bytes without spaces", schemas.MaxIDBytes)
	}
	return s
}

func (p *parser) integer(n *yaml.Node, field string, min int64) int64 {
	if n.Kind != yaml.ScalarNode {
		p.fail(n, field, "must be an integer")
		return 0
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 10, 64)
	if err != nil {
		p.fail(n, field, "must be an integer, got %q", n.Value)
		return 0
	}
	if v < min {
		p.fail(n, field, "must be at least %d, got %d", min, v)
	}
	return v
}

func (p *parser) boolean(n *yaml.Node, field string) bool {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
		p.fail(n, field, "must be true or false, got %q", n.Value)
	}
	return b
}

func (p *parser) duration(n *yaml.Node, field string) time.Duration {
	if n.Kind != yaml.ScalarNode {
		p.fail(n, field, "must be a duration such as 10m or 48h")
		return 0
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil || d <= 0 {
		p.fail(n, field, "must be a positive duration such as 10m or 48h, got %q", n.Value)
		return 0
	}
	return d
}

func (p *parser) strList(n *yaml.Node, field string) []string {
	if n.Kind == yaml.ScalarNode {
		return []string{p.str(n, field)}
	}
	if n.Kind != yaml.SequenceNode {
		p.fail(n, field, "must be a string or a list of strings")
		return nil
	}
	var out []string
	for i, c := range n.Content {
		out = append(out, p.str(c, fmt.Sprintf("%s[%d]", field, i)))
	}
	return out
}

func (p *parser) eventList(n *yaml.Node, field string) []string {
	out := p.strList(n, field)
	for _, t := range out {
		if !slices.Contains(eventTypes, t) {
			p.fail(n, field, "unknown event type %q (valid: %s)", t, strings.Join(eventTypes, ", "))
		}
	}
	if len(out) == 0 {
		p.fail(n, field, "must name at least one event type")
	}
	return out
}

func (p *parser) document(n *yaml.Node) *Set {
	top := p.mapping(n, "", "lateness", "categories", "campaigns", "rules")
	set := &Set{Lateness: DefaultLateness, Categories: map[string][]string{}, Campaigns: map[string]*Campaign{}}
	if top == nil {
		return set
	}
	if v := top["lateness"]; v != nil {
		set.Lateness = p.duration(v, "lateness")
	}
	if v := top["categories"]; v != nil {
		for name, pats := range p.mapping(v, "categories") {
			set.Categories[name] = p.strList(pats, "categories."+name)
		}
	}
	if v := top["campaigns"]; v == nil {
		p.fail(n, "campaigns", "missing")
	} else if v.Kind != yaml.SequenceNode {
		p.fail(v, "campaigns", "must be a list")
	} else {
		for i, c := range v.Content {
			if camp := p.campaign(c, fmt.Sprintf("campaigns[%d]", i)); camp != nil {
				if set.Campaigns[camp.ID] != nil {
					p.fail(c, fmt.Sprintf("campaigns[%d].id", i), "campaign %q defined twice", camp.ID)
				}
				set.Campaigns[camp.ID] = camp
			}
		}
	}
	if v := top["rules"]; v == nil {
		p.fail(n, "rules", "missing")
	} else if v.Kind != yaml.SequenceNode {
		p.fail(v, "rules", "must be a list")
	} else {
		if len(v.Content) > MaxRules {
			p.fail(v, "rules", "at most %d rules", MaxRules)
		}
		seen := map[string]bool{}
		for i, c := range v.Content {
			field := fmt.Sprintf("rules[%d]", i)
			r := p.rule(c, field, set)
			if r == nil {
				continue
			}
			if seen[r.ID] {
				p.fail(c, field+".id", "rule %q defined twice", r.ID)
			}
			seen[r.ID] = true
			set.Rules = append(set.Rules, r)
		}
	}
	return set
}

func (p *parser) campaign(n *yaml.Node, field string) *Campaign {
	m := p.mapping(n, field, "id", "timezone", "start", "end")
	if m == nil {
		return nil
	}
	c := &Campaign{Location: time.UTC}
	for _, k := range []string{"id", "timezone", "start", "end"} {
		if m[k] == nil {
			p.fail(n, join(field, k), "missing")
		}
	}
	if v := m["id"]; v != nil {
		c.ID = p.id(v, field+".id")
	}
	if v := m["timezone"]; v != nil {
		loc, err := time.LoadLocation(p.str(v, field+".timezone"))
		if err != nil {
			p.fail(v, field+".timezone", "unknown time zone %q (use an IANA name such as Asia/Shanghai)", v.Value)
		} else {
			c.Location = loc
		}
	}
	when := func(k string) time.Time {
		v := m[k]
		if v == nil {
			return time.Time{}
		}
		s := p.str(v, field+"."+k)
		for _, l := range campaignTimeLayouts {
			if t, err := time.ParseInLocation(l, s, c.Location); err == nil {
				return t
			}
		}
		p.fail(v, field+"."+k, "must be a local time such as \"2027-02-06 00:00\", got %q", s)
		return time.Time{}
	}
	c.Start, c.End = when("start"), when("end")
	if !c.Start.IsZero() && !c.End.IsZero() && !c.Start.Before(c.End) {
		p.fail(m["end"], field+".end", "must be after start")
	}
	return c
}

var ruleFields = []string{"id", "campaign", "kind", "events", "absent", "count", "within", "threshold", "currency",
	"filter", "coupon", "cap", "budget", "enabled"}

func (p *parser) rule(n *yaml.Node, field string, set *Set) *Rule {
	m := p.mapping(n, field, ruleFields...)
	if m == nil {
		return nil
	}
	r := &Rule{Line: n.Line, Enabled: true, Cap: 1}
	need := func(k string) *yaml.Node {
		if m[k] == nil {
			p.fail(n, join(field, k), "missing")
		}
		return m[k]
	}
	forbid := func(k, why string) {
		if v := m[k]; v != nil {
			p.fail(v, join(field, k), "not allowed on a %s rule (%s)", r.Kind, why)
		}
	}
	if v := need("id"); v != nil {
		r.ID = p.id(v, field+".id")
	}
	if v := need("campaign"); v != nil {
		id := p.str(v, field+".campaign")
		if r.Campaign = set.Campaigns[id]; r.Campaign == nil {
			p.fail(v, field+".campaign", "unknown campaign %q (defined: %s)", id, strings.Join(sortedKeys(set.Campaigns), ", "))
			r.Campaign = &Campaign{ID: id, Location: time.UTC}
		}
	}
	if v := need("kind"); v != nil {
		r.Kind = Kind(p.str(v, field+".kind"))
		switch r.Kind {
		case KindCount, KindSum, KindAbsence, KindFirst:
		default:
			p.fail(v, field+".kind", "unknown kind %q (valid: count, sum, absence, first)", v.Value)
		}
	}
	if r.Kind == KindSum {
		r.Events = []string{"order"}
		forbid("events", "it sums placed orders")
	} else if v := need("events"); v != nil {
		r.Events = p.eventList(v, field+".events")
	}
	switch r.Kind {
	case KindCount:
		if v := need("count"); v != nil {
			r.Count = int(p.integer(v, field+".count", 1))
			if r.Count > MaxCount {
				p.fail(v, field+".count", "at most %d", MaxCount)
			}
		}
		if v := need("within"); v != nil {
			r.Within = p.duration(v, field+".within")
		}
	case KindSum:
		if v := need("threshold"); v != nil {
			r.Threshold = p.integer(v, field+".threshold", 1)
		}
		if v := m["within"]; v != nil && v.Value != "campaign" {
			r.Within = p.duration(v, field+".within")
		}
	case KindAbsence:
		if v := need("absent"); v != nil {
			r.Absent = p.eventList(v, field+".absent")
		}
		if v := need("within"); v != nil {
			r.Within = p.duration(v, field+".within")
		}
	case KindFirst:
		forbid("within", "it looks at the whole campaign window")
	}
	if r.Kind != KindCount {
		forbid("count", "only count rules count events")
	}
	if r.Kind != KindSum {
		forbid("threshold", "only sum rules have a threshold")
		forbid("currency", "only sum rules sum amounts")
	}
	if r.Kind != KindAbsence {
		forbid("absent", "only absence rules wait for an absence")
	}
	if v := m["filter"]; v != nil {
		r.Filter = p.filter(v, field+".filter", set)
	}
	if v := need("coupon"); v != nil {
		r.Coupon = p.coupon(v, field+".coupon")
	}
	r.SumCurrency = r.Coupon.Currency
	if v := m["currency"]; v != nil {
		r.SumCurrency = p.str(v, field+".currency")
		if !schemas.ValidCurrency(r.SumCurrency) {
			p.fail(v, field+".currency", "not an ISO 4217 currency code: %q", r.SumCurrency)
		}
	}
	if v := m["cap"]; v != nil {
		r.Cap = int(p.integer(v, field+".cap", 0))
	}
	if r.Kind == KindFirst {
		r.Cap = 1
	}
	if v := m["budget"]; v != nil {
		bm := p.mapping(v, field+".budget", "coupons", "value")
		if c := bm["coupons"]; c != nil {
			r.Budget.Coupons = p.integer(c, field+".budget.coupons", 1)
		}
		if c := bm["value"]; c != nil {
			r.Budget.Value = p.integer(c, field+".budget.value", 1)
		}
		if bm != nil && len(bm) == 0 {
			p.fail(v, field+".budget", "give coupons, value or both")
		}
	}
	if v := m["enabled"]; v != nil {
		r.Enabled = p.boolean(v, field+".enabled")
	}
	return r
}

func (p *parser) filter(n *yaml.Node, field string, set *Set) Filter {
	m := p.mapping(n, field, "sku", "category", "vip", "campaign_id")
	var f Filter
	if v := m["sku"]; v != nil {
		f.SKUs = p.strList(v, field+".sku")
	}
	if v := m["category"]; v != nil {
		f.Categories = p.strList(v, field+".category")
		for _, c := range f.Categories {
			if _, ok := set.Categories[c]; !ok {
				p.fail(v, field+".category", "unknown category %q (define it under categories:)", c)
			}
		}
	}
	if v := m["vip"]; v != nil {
		f.VIP = p.boolean(v, field+".vip")
	}
	if v := m["campaign_id"]; v != nil {
		f.CampaignID = p.id(v, field+".campaign_id")
	}
	return f
}

func (p *parser) coupon(n *yaml.Node, field string) Coupon {
	m := p.mapping(n, field, "value", "currency", "expires")
	var c Coupon
	if m == nil {
		return c
	}
	for _, k := range []string{"value", "currency", "expires"} {
		if m[k] == nil {
			p.fail(n, join(field, k), "missing")
		}
	}
	if v := m["value"]; v != nil {
		c.Value = p.integer(v, field+".value", 1)
	}
	if v := m["currency"]; v != nil {
		c.Currency = p.str(v, field+".currency")
		if !schemas.ValidCurrency(c.Currency) {
			p.fail(v, field+".currency", "not an ISO 4217 currency code: %q", c.Currency)
		}
	}
	if v := m["expires"]; v != nil {
		c.Expires = p.duration(v, field+".expires")
	}
	return c
}
