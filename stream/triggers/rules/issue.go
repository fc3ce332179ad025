package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/surgeio/surge/schemas"
)

// Issue is a coupon the engine decided to issue.
type Issue struct {
	CouponID  string
	User      string
	Rule      string
	Campaign  string
	Value     int64
	Currency  string
	IssuedAt  int64 // Unix ms: the trigger's event time (or the timer's deadline)
	ExpiresAt int64
	Trigger   string // event id that triggered it, or "timer:<rule>:<start ms>"
	Seq       uint32 // the user's n-th coupon from this rule, from 0
}

// Coupon returns the Coupon record for i. Its event id is derived from the
// coupon id, so a replay produces a byte-identical record.
func (i *Issue) Coupon() *schemas.Coupon {
	return &schemas.Coupon{
		EventID:        "ev-" + i.CouponID,
		CouponID:       i.CouponID,
		UserID:         i.User,
		CampaignID:     i.Campaign,
		RuleID:         i.Rule,
		Value:          i.Value,
		Currency:       i.Currency,
		IssuedAt:       time.UnixMilli(i.IssuedAt).UTC(),
		ExpiresAt:      time.UnixMilli(i.ExpiresAt).UTC(),
		TriggerEventID: i.Trigger,
	}
}

// CouponID is the deterministic id of the seq-th coupon rule gives user in
// campaign, triggered by trigger (an event id, or the timer of an absence
// rule): the same input always yields the same ids, so a consumer can also
// deduplicate on it. The trigger keeps ids distinct when an uncapped rule's
// count restarts after its user's state expired.
func CouponID(campaign, rule, user string, seq uint32, trigger string) string {
	var b [256]byte
	in := b[:0]
	for _, s := range [...]string{campaign, rule, user} {
		in = append(append(in, s...), 0)
	}
	in = append(strconv.AppendUint(in, uint64(seq), 10), 0)
	in = append(in, trigger...)
	sum := sha256.Sum256(in)
	var out [4 + 24]byte
	copy(out[:], "cpn-")
	hex.Encode(out[4:], sum[:12])
	return string(out[:])
}

// Stats counts what a partition's engine did.
type Stats struct {
	Events          int64 // events applied
	Late            int64 // events older than the watermark, not applied
	Issued          int64
	BudgetExhausted int64 // fires refused because the budget share was spent
	Evicted         int64 // users whose state expired
	Duplicates      int64 // copies of an event (same event id) that already changed a user's state, not applied
}

// Share returns partition id's share of a total split over n partitions:
// the shares add up to exactly total. A partition beyond the split (id ≥
// n, one a resize added after the budget was split) gets nothing, so
// growing the inputs never grows what a budget can spend.
func Share(total int64, id, n int32) int64 {
	if id >= n {
		return 0
	}
	s := total / int64(n)
	if int64(id) < total%int64(n) {
		s++
	}
	return s
}

// BudgetShare is what partition p may spend of r's budget and what it has
// spent, in coupons and in value. A zero share means the rule has no
// budget of that kind.
func (p *Partition) BudgetShare(r *Rule) (couponShare, couponsSpent, valueShare, valueSpent int64) {
	sp := p.m.spent[r.ID]
	if r.Budget.Coupons > 0 {
		couponShare = Share(r.Budget.Coupons, p.id, p.n)
	}
	if r.Budget.Value > 0 {
		valueShare = Share(r.Budget.Value, p.id, p.n)
	}
	return couponShare, sp.coupons, valueShare, sp.value
}
