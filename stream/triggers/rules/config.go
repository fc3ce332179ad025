package rules

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// Kind is what a rule watches for.
type Kind string

// The rule kinds.
const (
	// KindCount fires when Count matching events fall within Within.
	KindCount Kind = "count"
	// KindSum fires when the amounts of matching orders within Within (or
	// within the campaign window) reach Threshold.
	KindSum Kind = "sum"
	// KindAbsence fires when a matching event is not followed by one of
	// Absent within Within: on a timer, when Within has elapsed.
	KindAbsence Kind = "absence"
	// KindFirst fires on a user's first matching event in the campaign
	// window.
	KindFirst Kind = "first"
)

// Event types a rule can match: the user event types plus the order
// lifecycle ("order" is a placed order; the others are status changes).
var eventTypes = []string{
	"page_view", "search", "add_to_cart", "remove_from_cart", "checkout_started", "coupon_redeemed",
	"order", "order_paid", "order_cancelled", "order_shipped",
}

// Limits that keep per-user state small.
const (
	MaxCount      = 1000 // count rules: at most this many events per window
	MaxSumEntries = 256  // sum rules over a sliding window keep at most this many orders
	// MaxCancelEntries bounds the cancelling events an absence rule
	// remembers per user (the newest within the allowed lateness).
	MaxCancelEntries = 16
	MaxRules         = 500
	// MaxFileBytes is the largest rules file read: a file over it is
	// refused before it is parsed (500 rules take well under 1 MiB; a
	// 27 MB file took 24 s and 1.2 GB to parse).
	MaxFileBytes = 1 << 20
)

// DefaultLateness is the allowed lateness when the file sets none.
const DefaultLateness = 30 * time.Second

// Set is a validated rules file.
type Set struct {
	// Lateness is how far behind the newest event time an event may be and
	// still count. Older events are late: counted, recorded, not applied.
	Lateness time.Duration
	// Categories maps a category name to SKU patterns: an exact SKU, or a
	// prefix ending in "*".
	Categories map[string][]string
	Campaigns  map[string]*Campaign
	// Rules in file order, disabled ones included.
	Rules []*Rule

	// byType is, per event type, the enabled rules it triggers and the
	// enabled absence rules it cancels: one lookup per event.
	byType  map[string]*dispatch
	byID    map[string]*Rule
	longest time.Duration
	hasVIP  bool
}

// Campaign is a calendar window in a named time zone.
type Campaign struct {
	ID       string
	Location *time.Location
	// Start and End are the window [Start, End), read as wall-clock times
	// in Location; a DST change inside the window is handled by the zone
	// rules, so the window is exactly as long as the clocks say.
	Start, End time.Time
}

// Contains reports whether t (Unix ms) falls in [Start, End).
func (c *Campaign) Contains(ms int64) bool {
	return ms >= c.Start.UnixMilli() && ms < c.End.UnixMilli()
}

// Filter narrows the events a rule looks at. Empty fields match anything.
type Filter struct {
	SKUs       []string // the event's SKU (any item's for orders) is one of these
	Categories []string // the SKU is in one of these categories
	VIP        bool     // only users known as VIP (a vip or urgent order seen)
	CampaignID string   // the event's campaign_id equals this
}

// Coupon is what a rule issues.
type Coupon struct {
	Value    int64 // minor units
	Currency string
	Expires  time.Duration // validity after issue
}

// Budget bounds a rule's total spend over all users. Zero fields are
// unbounded.
type Budget struct {
	Coupons int64
	Value   int64
}

// Rule is one campaign rule.
type Rule struct {
	ID       string
	Campaign *Campaign
	Kind     Kind
	Events   []string
	Absent   []string      // absence: the events that must not follow
	Count    int           // count: events needed
	Within   time.Duration // 0 on a sum rule means the campaign window
	// Threshold is the amount a sum rule needs, in minor units of
	// SumCurrency (orders in other currencies do not count).
	Threshold   int64
	SumCurrency string
	Filter      Filter
	Coupon      Coupon
	Cap         int // coupons per user per campaign; 0 is unlimited
	Budget      Budget
	Enabled     bool
	Line        int // where the rule starts in the file

	skuSet map[string]bool
	cats   [][]skuPattern // per filter category, its patterns

	// The rule's times in Unix ms.
	withinMs, startMs, endMs int64
	pos                      int // index in Set.Rules
}

// dispatch lists the rules an event type concerns.
type dispatch struct {
	triggers []*Rule // enabled rules the type triggers
	cancels  []*Rule // enabled absence rules the type cancels
}

// skuPattern is a category pattern: an exact SKU, or a prefix (written
// with a trailing "*").
type skuPattern struct {
	s      string
	prefix bool
}

// Rule returns the rule with the given id, or nil.
func (s *Set) Rule(id string) *Rule { return s.byID[id] }

// Enabled returns the enabled rules in file order.
func (s *Set) Enabled() []*Rule {
	var out []*Rule
	for _, r := range s.Rules {
		if r.Enabled {
			out = append(out, r)
		}
	}
	return out
}

// Longest is the longest time any rule keeps per-user state: the longest
// sliding window, or the longest campaign for rules scoped to a campaign.
func (s *Set) Longest() time.Duration { return s.longest }

// ErrInvalid is wrapped by every validation error from Parse and Load.
var ErrInvalid = errors.New("invalid rules file")

// Problem is one validation failure, located in the file.
type Problem struct {
	Line, Column int
	Field        string // path such as "rules[2].coupon.value"
	Message      string
}

func (p Problem) String() string {
	if p.Field == "" {
		return fmt.Sprintf("line %d: %s", p.Line, p.Message)
	}
	return fmt.Sprintf("line %d: %s: %s", p.Line, p.Field, p.Message)
}

// ValidationError lists every problem found in a rules file. It wraps
// ErrInvalid.
type ValidationError struct {
	File     string
	Problems []Problem
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	name := e.File
	if name == "" {
		name = "rules"
	}
	fmt.Fprintf(&b, "%s: %d problem(s):", name, len(e.Problems))
	for _, p := range e.Problems {
		if p.Field == "" {
			fmt.Fprintf(&b, "\n  %s:%d: %s", name, p.Line, p.Message)
		} else {
			fmt.Fprintf(&b, "\n  %s:%d: %s: %s", name, p.Line, p.Field, p.Message)
		}
	}
	return b.String()
}

func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Load reads and validates the rules file at path. A file over
// MaxFileBytes is refused from its size, without being read.
func Load(path string) (*Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read rules file: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > MaxFileBytes {
		return nil, tooLarge(path, fi.Size())
	}
	// Read at most one byte past the limit: the file may grow meanwhile.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read rules file: %w", err)
	}
	return Parse(path, data)
}

// tooLarge is the error for a rules file over MaxFileBytes.
func tooLarge(file string, size int64) error {
	return &ValidationError{File: file, Problems: []Problem{{Message: fmt.Sprintf(
		"the file is %d bytes, over the limit of %d (1 MiB); a rules file holds at most %d rules, which fit well within it",
		size, MaxFileBytes, MaxRules)}}}
}

// index builds the lookup tables of an already validated set.
func (s *Set) index() {
	s.byType = make(map[string]*dispatch)
	s.byID = make(map[string]*Rule)
	typ := func(t string) *dispatch {
		d := s.byType[t]
		if d == nil {
			d = &dispatch{}
			s.byType[t] = d
		}
		return d
	}
	for i, r := range s.Rules {
		r.pos = i
		s.byID[r.ID] = r
		r.skuSet = nil
		if len(r.Filter.SKUs) > 0 {
			r.skuSet = make(map[string]bool, len(r.Filter.SKUs))
			for _, k := range r.Filter.SKUs {
				r.skuSet[k] = true
			}
		}
		r.cats = r.cats[:0]
		for _, c := range r.Filter.Categories {
			var pats []skuPattern
			for _, p := range s.Categories[c] {
				if pre, ok := strings.CutSuffix(p, "*"); ok {
					pats = append(pats, skuPattern{pre, true})
				} else {
					pats = append(pats, skuPattern{p, false})
				}
			}
			r.cats = append(r.cats, pats)
		}
		r.withinMs = r.Within.Milliseconds()
		r.startMs, r.endMs = r.Campaign.Start.UnixMilli(), r.Campaign.End.UnixMilli()
		if !r.Enabled {
			continue
		}
		s.hasVIP = s.hasVIP || r.Filter.VIP
		for _, t := range r.Events {
			d := typ(t)
			d.triggers = append(d.triggers, r)
		}
		for _, t := range r.Absent {
			d := typ(t)
			d.cancels = append(d.cancels, r)
		}
		keep := r.Within
		if r.Kind == KindSum && r.Within == 0 || r.Kind == KindFirst || r.Cap > 0 {
			keep = r.Campaign.End.Sub(r.Campaign.Start)
		}
		s.longest = max(s.longest, keep)
	}
}

// Summary describes the set in one line per rule, for logs and validate.
func (s *Set) Summary() []string {
	var out []string
	for _, r := range s.Rules {
		state := "enabled"
		if !r.Enabled {
			state = "disabled"
		}
		out = append(out, fmt.Sprintf("%s (%s, campaign %s, %s): coupon %d %s", r.ID, r.Kind, r.Campaign.ID, state, r.Coupon.Value, r.Coupon.Currency))
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
