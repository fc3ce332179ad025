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

	users  map[string]*userState // with the ghosts of the batch (see userState.gone)
	ghosts int                   // ghosts in users
	win    windows               // the window entries of the rule states
	spare  []*userState          // dropped user states for reuse (free)
	m      *meta

	// Rule ids are interned per partition (ruleState.rid): names by
	// interned id, and back; rids is the interned id of each rule of the
	// set in force, byRid the rule of the set by interned id.
	names  []string
	ids    map[string]uint32
	rids   []uint32
	byRid  []*Rule
	timers timerHeap
	expiry expHeap

	// idleSince is, per channel, the processing time at which the caller
	// declared it idle, 0 while it is live. Not part of the state: a
	// restored partition starts with every channel live.
	idleSince [numChannels]int64

	apply []*Rule // scratch: the rules an event changes

	tracking  bool
	batch     uint16      // numbers the tracked batches (userState.batch)
	undo      []undoRef   // the users changed in the batch, in order
	undoBuf   []byte      // the encoded states undo points into
	vals      []userValue // the values Changes emits
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
	p := &Partition{id: id, n: max(n, 1), set: set, idle: idle.Milliseconds(),
		users: make(map[string]*userState), m: &meta{spent: map[string]spend{}}, ids: map[string]uint32{}}
	p.indexRules()
	return p
}

// SetRules switches to a new rule set; state is kept by rule id.
func (p *Partition) SetRules(set *Set) {
	p.set = set
	p.indexRules()
}

// Users is the number of users with state.
func (p *Partition) Users() int { return len(p.users) - p.ghosts }

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
	var triggers, cancels []*Rule
	if d := set.byType[ev.Type]; d != nil {
		triggers, cancels = d.triggers, d.cancels
	}
	newVIP := ev.VIP && set.hasVIP
	if len(triggers) == 0 && len(cancels) == 0 && !newVIP {
		return out, false
	}
	// Find what the event changes before touching any state: most events
	// change nothing, and an unchanged user costs no undo copy and no
	// changelog record.
	ghost := p.users[ev.User]
	u := ghost
	if u != nil && u.gone {
		u = nil
	} else {
		ghost = nil
	}
	vip := ev.VIP || u != nil && u.vip
	newVIP = newVIP && (u == nil || !u.vip)
	apply := p.apply[:0]
	for _, r := range triggers {
		if ev.TS < r.startMs || ev.TS >= r.endMs || !r.matches(ev, vip) {
			continue
		}
		if u != nil {
			if rs := u.rule(p.rid(r)); rs != nil && (r.Cap > 0 && int(rs.issued) >= r.Cap ||
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
	h := eventHash(ev.ID)
	if u != nil && ev.ID != "" && u.hasSeen(h) {
		p.Stats.Duplicates++ // a copy of an event that already changed the state
		return out, false
	}
	p.Stats.Events++
	if u == nil {
		u = p.newUser(ev.User, ghost, len(apply)+1)
	} else {
		p.touch(u)
	}
	if ev.ID != "" {
		u.seen = append(u.seen, seenEvent{hash: h, ts: ev.TS})
	}
	if newVIP {
		u.vip = true
	}
	if cancelled {
		for _, r := range cancels {
			if rs := u.rule(p.rid(r)); rs != nil && rs.pending != 0 && ev.TS >= rs.pending && ev.TS <= rs.pending+r.withinMs && r.matches(ev, vip) {
				rs.pending = 0
			}
		}
	}
	for _, r := range apply {
		rs := u.ruleOrNew(p.rid(r))
		switch r.Kind {
		case KindCount:
			out = p.count(r, u, rs, ev, out)
		case KindSum:
			out = p.sum(r, u, rs, ev, out)
		case KindAbsence:
			// A cancelling event may have been read first: it came from
			// another input, or out of order within the lateness.
			if !seenWithin(p.win.view(rs.ts), ev.TS, ev.TS+r.withinMs) {
				rs.pending = ev.TS
				p.timers.push(timer{at: ev.TS + r.withinMs, user: u.id, rule: r.ID, rid: rs.rid, start: ev.TS})
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
		rs := u.ruleOrNew(p.rid(r))
		p.win.insertSorted(rs, ev.TS, 0, false)
		ts := p.win.view(rs.ts)
		k := 0
		for k < len(ts) && (ts[k] < p.m.wm || len(ts)-k > MaxCancelEntries) {
			k++
		}
		p.win.dropFront(&rs.ts, k)
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
	within := r.withinMs
	p.win.insertSorted(rs, ev.TS, 0, false)
	p.trimWindow(rs, within)
	ts := p.win.view(rs.ts)
	for end := len(ts) - 1; end >= 0; end-- {
		if ts[end] < ev.TS {
			break
		}
		n := 0
		for j := end; j >= 0 && ts[end]-ts[j] < within; j-- {
			n++
		}
		if n >= r.Count {
			before := len(out)
			out = p.fire(r, u, rs, ev.ID, ev.TS, out)
			if len(out) > before {
				rs.ts.n = 0
			}
			break
		}
	}
	if int(rs.ts.n) > r.Count {
		p.win.dropFront(&rs.ts, int(rs.ts.n)-r.Count)
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
	within := r.withinMs
	p.win.insertSorted(rs, ev.TS, ev.Amount, true)
	p.trimWindow(rs, within)
	if rs.ts.n > MaxSumEntries {
		k := int(rs.ts.n) - MaxSumEntries
		p.win.dropFront(&rs.ts, k)
		p.win.dropFront(&rs.amts, k)
	}
	ts, amts := p.win.view(rs.ts), p.win.view(rs.amts)
	for end := len(ts) - 1; end >= 0 && ts[end] >= ev.TS; end-- {
		var total int64
		for j := end; j >= 0 && ts[end]-ts[j] < within; j-- {
			total += amts[j]
		}
		if total >= r.Threshold {
			before := len(out)
			out = p.fire(r, u, rs, ev.ID, ev.TS, out)
			if len(out) > before {
				rs.ts.n, rs.amts.n = 0, 0
			}
			break
		}
	}
	return out
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
	kept := 0
	for i := range u.rules {
		rs := &u.rules[i]
		r := p.ruleOf(rs.rid)
		if r == nil || rs.issued == 0 && !rs.seen && rs.total == 0 && rs.pending == 0 && rs.ts.n == 0 {
			// Rule removed from the file, or nothing to remember.
			p.win.release(&rs.ts)
			p.win.release(&rs.amts)
			continue
		}
		rs.exp = 0
		if rs.ts.n > 0 {
			rs.exp = p.win.last(rs.ts) + r.withinMs + late
		}
		if rs.pending != 0 {
			rs.exp = max(rs.exp, rs.pending+r.withinMs+late)
		}
		if rs.seen || rs.total != 0 || rs.issued > 0 && r.Cap > 0 {
			rs.exp = max(rs.exp, r.endMs+late)
		}
		exp = max(exp, rs.exp)
		if kept != i {
			u.rules[kept] = *rs
		}
		kept++
	}
	clear(u.rules[kept:])
	u.rules = u.rules[:kept]
	if n := p.pruneSeen(u); n > 0 {
		exp = max(exp, n+1) // evicted only once a copy would be late
	}
	if len(u.rules) == 0 && !u.vip && len(u.seen) == 0 {
		p.drop(u)
		return
	}
	u.exp = max(exp, u.exp)
	if u.inHeap == 0 {
		u.inHeap = exp
		p.expiry.push(expiry{at: exp, u: u})
	}
}
