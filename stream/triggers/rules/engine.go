package rules

import (
	"strings"
	"time"
)

// Channels: a partition merges up to three input streams (the orders, the
// priority orders and the user events partitions of one number). Each has
// its own event-time progress; the watermark follows the slowest active one.
const (
	ChannelOrders = iota
	ChannelPriority
	ChannelUserEvents
	numChannels
)

// MetaKey is the state key under which a partition keeps its watermark and
// budget spend. User ids never start with a NUL byte.
const MetaKey = "\x00meta"

// DefaultIdleTimeout is how long an input that has been read to its end
// may stay quiet before the watermark stops waiting for it.
const DefaultIdleTimeout = 5 * time.Second

// Partition is the engine for one input partition number: the state of the
// users whose key hashes there, its watermark and its share of every
// budget. It is not safe for concurrent use.
//
// Every decision it takes is a function of its state and of the events it
// is given, in the order each channel delivers them, never of the clock,
// with one documented exception: when the caller declares every channel
// idle (SetIdle), the watermark follows the processing clock passed to
// Tick, so that timers still fire on a quiet partition.
type Partition struct {
	id, n int32
	set   *Set
	idle  int64 // ms, event time: Replay's idle timeout

	users  map[string]*userState
	m      *meta
	timers timerHeap
	evict  expHeap

	// idleSince is, per channel, the processing time at which the caller
	// declared it idle, 0 while it is live. Not part of the state: a
	// restored partition starts with every channel live.
	idleSince [numChannels]int64

	apply []*Rule // scratch: the rules an event changes

	tracking  bool
	undo      map[string]undoRef // user -> encoded state before the batch
	undoBuf   []byte             // the encoded states undo points into
	metaUndo  *meta
	metaDirty bool // budget spend or channel progress changed since Begin

	Stats Stats
}

// NewPartition returns the engine of partition id out of n (n sizes the
// budget shares) running set. idle is the event-time idle timeout Replay
// uses (0: the default); live callers declare idleness with SetIdle.
func NewPartition(set *Set, id, n int32, idle time.Duration) *Partition {
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	return &Partition{id: id, n: max(n, 1), set: set, idle: idle.Milliseconds(),
		users: make(map[string]*userState), m: &meta{spent: map[string]spend{}}}
}

// SetRules switches to a new rule set; state is kept by rule id.
func (p *Partition) SetRules(set *Set) { p.set = set }

// Users is the number of users with state.
func (p *Partition) Users() int { return len(p.users) }

// Watermark is the partition's event-time watermark.
func (p *Partition) Watermark() time.Time { return time.UnixMilli(p.m.wm).UTC() }

// Newest is the newest event time channel ch delivered.
func (p *Partition) Newest(ch int) time.Time { return time.UnixMilli(p.m.chMax[ch]).UTC() }

// Process applies one event read from channel ch, appending any coupons
// to out. late reports a late event: it is not applied, and the caller
// records it.
//
// An event is late when it is more than the allowed lateness older than
// the newest event its own channel delivered before it. That depends only
// on the channel's own order (a Kafka partition's, fixed), so every run
// over the same input, interrupted or not, takes the same decisions. An
// event older than the partition's watermark is late too; that can only
// happen on a channel that was declared idle and came back with events
// older than what the other channels had moved the watermark to.
func (p *Partition) Process(ev *Event, ch int, out []Issue) (_ []Issue, late bool) {
	if p.idleSince[ch] != 0 {
		p.idleSince[ch] = 0
	}
	if ev.TS < p.m.chMax[ch]-p.set.Lateness.Milliseconds() || ev.TS < p.m.wm {
		p.Stats.Late++
		return out, true
	}
	if ev.TS > p.m.chMax[ch] {
		p.touchMeta()
		p.metaDirty = true
		p.m.chMax[ch] = ev.TS
		p.advance(0)
	}
	set := p.set
	triggers, cancels := set.byType[ev.Type], set.absenceBy[ev.Type]
	newVIP := ev.VIP && set.hasVIP
	if len(triggers) == 0 && len(cancels) == 0 && !newVIP {
		return out, false
	}
	// Find what the event changes before touching any state: most events
	// change nothing, and an unchanged user costs no undo copy and no
	// changelog record.
	u := p.users[ev.User]
	vip := ev.VIP || u != nil && u.vip
	newVIP = newVIP && (u == nil || !u.vip)
	apply := p.apply[:0]
	for _, r := range triggers {
		if !r.Campaign.Contains(ev.TS) || !r.matches(ev, vip) {
			continue
		}
		if u != nil {
			if rs := u.rule(r.ID); rs != nil && (r.Cap > 0 && int(rs.issued) >= r.Cap ||
				r.Kind == KindFirst && rs.seen || r.Kind == KindAbsence && rs.pending != 0) {
				continue
			}
		}
		apply = append(apply, r)
	}
	p.apply = apply
	cancelled := false
	for _, r := range cancels {
		if r.matches(ev, vip) {
			cancelled = true
			break
		}
	}
	if len(apply) == 0 && !cancelled && !newVIP {
		return out, false
	}
	p.Stats.Events++
	if u == nil {
		u = &userState{id: strings.Clone(ev.User), rules: make([]ruleState, 0, len(apply)+1)}
		p.touchNew(u.id)
		p.users[u.id] = u
	} else {
		p.touch(u)
	}
	if newVIP {
		u.vip = true
	}
	if cancelled {
		for _, r := range cancels {
			if rs := u.rule(r.ID); rs != nil && rs.pending != 0 && ev.TS >= rs.pending && ev.TS <= rs.pending+r.Within.Milliseconds() && r.matches(ev, vip) {
				rs.pending = 0
			}
		}
	}
	for _, r := range apply {
		rs := u.ruleOrNew(r.ID)
		switch r.Kind {
		case KindCount:
			out = p.count(r, u, rs, ev, out)
		case KindSum:
			out = p.sum(r, u, rs, ev, out)
		case KindAbsence:
			// A cancelling event may have been read first: it came from
			// another input, or out of order within the lateness.
			if !seenWithin(rs.ts, ev.TS, ev.TS+r.Within.Milliseconds()) {
				rs.pending = ev.TS
				p.timers.push(timer{at: ev.TS + r.Within.Milliseconds(), user: u.id, rule: r.ID, start: ev.TS})
			}
		case KindFirst:
			rs.seen = true
			out = p.fire(r, u, rs, ev.ID, ev.TS, out)
		}
	}
	if cancelled {
		p.remember(u, cancels, ev)
	}
	p.settle(u, ev.TS)
	return out, false
}

// remember keeps the time of a cancelling event for the absence rules it
// matches, so that a triggering event read after it (from another input,
// or out of order) is still cancelled. Only times at or after the
// watermark are kept: an event that starts a timer is at or after it.
func (p *Partition) remember(u *userState, cancels []*Rule, ev *Event) {
	for _, r := range cancels {
		if !r.matches(ev, u.vip) {
			continue
		}
		rs := u.ruleOrNew(r.ID)
		insertSorted(&rs.ts, nil, ev.TS, 0)
		k := 0
		for k < len(rs.ts) && (rs.ts[k] < p.m.wm || len(rs.ts)-k > MaxCancelEntries) {
			k++
		}
		if k > 0 {
			rs.ts = append(rs.ts[:0], rs.ts[k:]...)
		}
	}
}

// seenWithin reports whether a time in ascending ts lies in [from, to].
func seenWithin(ts []int64, from, to int64) bool {
	for _, t := range ts {
		if t >= from && t <= to {
			return true
		}
	}
	return false
}

func (p *Partition) count(r *Rule, u *userState, rs *ruleState, ev *Event, out []Issue) []Issue {
	within := r.Within.Milliseconds()
	insertSorted(&rs.ts, nil, ev.TS, 0)
	p.trimWindow(rs, within)
	for end := len(rs.ts) - 1; end >= 0; end-- {
		if rs.ts[end] < ev.TS {
			break
		}
		n := 0
		for j := end; j >= 0 && rs.ts[end]-rs.ts[j] < within; j-- {
			n++
		}
		if n >= r.Count {
			before := len(out)
			out = p.fire(r, u, rs, ev.ID, ev.TS, out)
			if len(out) > before {
				rs.ts = rs.ts[:0]
			}
			break
		}
	}
	if len(rs.ts) > r.Count {
		rs.ts = append(rs.ts[:0], rs.ts[len(rs.ts)-r.Count:]...)
	}
	return out
}

func (p *Partition) sum(r *Rule, u *userState, rs *ruleState, ev *Event, out []Issue) []Issue {
	if ev.Currency != r.SumCurrency || ev.Amount <= 0 {
		return out
	}
	if r.Within == 0 {
		rs.total += ev.Amount
		if rs.total >= r.Threshold {
			before := len(out)
			out = p.fire(r, u, rs, ev.ID, ev.TS, out)
			if len(out) > before {
				rs.total = 0
			}
		}
		return out
	}
	within := r.Within.Milliseconds()
	insertSorted(&rs.ts, &rs.amts, ev.TS, ev.Amount)
	p.trimWindow(rs, within)
	if len(rs.ts) > MaxSumEntries {
		k := len(rs.ts) - MaxSumEntries
		rs.ts, rs.amts = append(rs.ts[:0], rs.ts[k:]...), append(rs.amts[:0], rs.amts[k:]...)
	}
	for end := len(rs.ts) - 1; end >= 0 && rs.ts[end] >= ev.TS; end-- {
		var total int64
		for j := end; j >= 0 && rs.ts[end]-rs.ts[j] < within; j-- {
			total += rs.amts[j]
		}
		if total >= r.Threshold {
			before := len(out)
			out = p.fire(r, u, rs, ev.ID, ev.TS, out)
			if len(out) > before {
				rs.ts, rs.amts = rs.ts[:0], rs.amts[:0]
			}
			break
		}
	}
	return out
}

// trimWindow drops window entries no future window can include: future
// events are at or after the watermark.
func (p *Partition) trimWindow(rs *ruleState, within int64) {
	k := 0
	for k < len(rs.ts) && rs.ts[k] <= p.m.wm-within {
		k++
	}
	if k > 0 {
		rs.ts = append(rs.ts[:0], rs.ts[k:]...)
		if rs.amts != nil {
			rs.amts = append(rs.amts[:0], rs.amts[k:]...)
		}
	}
}

// insertSorted inserts t (and a into amts when given) keeping ts ascending;
// an equal time goes after the existing ones. It returns the index.
func insertSorted(ts, amts *[]int64, t, a int64) int {
	i := len(*ts)
	for i > 0 && (*ts)[i-1] > t {
		i--
	}
	*ts = append(*ts, 0)
	copy((*ts)[i+1:], (*ts)[i:])
	(*ts)[i] = t
	if amts != nil {
		*amts = append(*amts, 0)
		copy((*amts)[i+1:], (*amts)[i:])
		(*amts)[i] = a
	}
	return i
}

// fire issues r's coupon to user if the budget share allows.
func (p *Partition) fire(r *Rule, u *userState, rs *ruleState, trigger string, at int64, out []Issue) []Issue {
	sp := p.m.spent[r.ID]
	if r.Budget.Coupons > 0 && sp.coupons+1 > Share(r.Budget.Coupons, p.id, p.n) ||
		r.Budget.Value > 0 && sp.value+r.Coupon.Value > Share(r.Budget.Value, p.id, p.n) {
		p.Stats.BudgetExhausted++
		return out
	}
	p.touchMeta()
	p.metaDirty = true
	sp.coupons++
	sp.value += r.Coupon.Value
	p.m.spent[r.ID] = sp
	seq := rs.issued
	rs.issued++
	p.Stats.Issued++
	trigger = strings.Clone(trigger) // it may alias the input record
	return append(out, Issue{
		CouponID:  CouponID(r.Campaign.ID, r.ID, u.id, seq, trigger),
		User:      u.id,
		Rule:      r.ID,
		Campaign:  r.Campaign.ID,
		Value:     r.Coupon.Value,
		Currency:  r.Coupon.Currency,
		IssuedAt:  at,
		ExpiresAt: at + r.Coupon.Expires.Milliseconds(),
		Trigger:   trigger,
		Seq:       seq,
	})
}

// settle recomputes a user's expiry after a change, drops empty rule
// states, and schedules eviction.
func (p *Partition) settle(u *userState, at int64) {
	set := p.set
	late := set.Lateness.Milliseconds()
	var exp int64
	if u.vip {
		exp = at + set.longest.Milliseconds() + late // a VIP is remembered for the longest window
	}
	kept := u.rules[:0]
	for _, rs := range u.rules {
		r := set.byID[rs.rule]
		if r == nil {
			continue // rule removed from the file
		}
		if rs.issued == 0 && !rs.seen && rs.total == 0 && rs.pending == 0 && len(rs.ts) == 0 {
			continue
		}
		rs.exp = 0
		if len(rs.ts) > 0 {
			rs.exp = rs.ts[len(rs.ts)-1] + r.Within.Milliseconds() + late
		}
		if rs.pending != 0 {
			rs.exp = max(rs.exp, rs.pending+r.Within.Milliseconds()+late)
		}
		if rs.seen || rs.total != 0 || rs.issued > 0 && r.Cap > 0 {
			rs.exp = max(rs.exp, r.Campaign.End.UnixMilli()+late)
		}
		exp = max(exp, rs.exp)
		kept = append(kept, rs)
	}
	clear(u.rules[len(kept):])
	u.rules = kept
	if len(u.rules) == 0 && !u.vip {
		delete(p.users, u.id)
		return
	}
	u.exp = max(exp, u.exp)
	if u.inHeap == 0 {
		u.inHeap = exp
		p.evict.push(expiry{at: exp, user: u.id})
	}
}
