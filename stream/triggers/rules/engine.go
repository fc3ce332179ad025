package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/surgeio/surge/schemas"
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
}

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

// Share returns partition id's share of a total split over n partitions:
// the shares add up to exactly total.
func Share(total int64, id, n int32) int64 {
	s := total / int64(n)
	if int64(id) < total%int64(n) {
		s++
	}
	return s
}

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

// Tick advances the watermark at processing time now (Unix ms), fires the
// absence timers it passed and evicts expired users. The watermark is the
// slowest live channel's newest event time minus the allowed lateness;
// once every channel is idle it follows the processing clock from the
// newest event time (minus the lateness) on, from the moment the last
// channel went idle.
func (p *Partition) Tick(now int64, out []Issue) []Issue {
	p.advance(now)
	return p.due(out)
}

// SetIdle declares channel ch idle at processing time now: it stops holding
// the watermark back until its next event. The caller decides: the live
// Runner does it for an input partition that it has read to its end and
// that stayed quiet for the idle timeout, never merely because no record
// arrived for a while (a stalled consumer is not an idle input).
func (p *Partition) SetIdle(ch int, now int64) {
	if p.idleSince[ch] == 0 {
		p.idleSince[ch] = max(now, 1)
	}
}

// Idle reports whether channel ch is declared idle.
func (p *Partition) Idle(ch int) bool { return p.idleSince[ch] != 0 }

// Replay is Process for an offline replay in event-time order (backtests):
// the event time is the clock, and a channel whose newest event is more
// than the idle timeout older than ev goes idle.
func (p *Partition) Replay(ev *Event, ch int, out []Issue) ([]Issue, bool) {
	for c := range numChannels {
		if c != ch && p.idleSince[c] == 0 && p.m.chMax[c] < ev.TS-p.idle {
			p.SetIdle(c, ev.TS)
		}
	}
	return p.Process(ev, ch, out)
}

// AdvanceTo moves the watermark to at least wm (event time, Unix ms) and
// fires what is due. Backtests use it to end a replay.
func (p *Partition) AdvanceTo(wm int64, out []Issue) []Issue {
	if wm > p.m.wm {
		p.touchMeta()
		p.m.wm = wm
	}
	return p.due(out)
}

func (p *Partition) advance(now int64) {
	var cand, since int64
	live := false
	for c := range numChannels {
		if p.idleSince[c] != 0 {
			since = max(since, p.idleSince[c])
			continue
		}
		if !live || p.m.chMax[c] < cand {
			cand = p.m.chMax[c]
		}
		live = true
	}
	late := p.set.Lateness.Milliseconds()
	if live {
		cand -= late
	} else {
		newest := max(p.m.chMax[0], p.m.chMax[1], p.m.chMax[2])
		if newest == 0 || now <= since {
			return
		}
		cand = newest - late + (now - since)
	}
	if cand > p.m.wm {
		p.touchMeta()
		p.m.wm = cand
	}
}

func (p *Partition) due(out []Issue) []Issue {
	// A timer fires once the watermark is past its deadline: every event
	// at or before the deadline that can still cancel it is then late.
	wm := p.m.wm
	for len(p.timers) > 0 && p.timers[0].at < wm {
		t := p.timers.pop()
		u := p.users[t.user]
		if u == nil {
			continue
		}
		rs := u.rule(t.rule)
		r := p.set.byID[t.rule]
		if rs == nil || rs.pending != t.start {
			continue // cancelled, fired, or a stale duplicate
		}
		p.touch(u)
		if r == nil || !r.Enabled || r.Kind != KindAbsence {
			rs.pending = 0
		} else if at := t.start + r.Within.Milliseconds(); at >= wm {
			p.timers.push(timer{at: at, user: t.user, rule: t.rule, start: t.start})
			continue
		} else {
			rs.pending = 0
			if r.Cap == 0 || int(rs.issued) < r.Cap {
				out = p.fire(r, u, rs, "timer:"+r.ID+":"+strconv.FormatInt(t.start, 10), at, out)
			}
		}
		p.settle(u, t.at)
	}
	for len(p.evict) > 0 && p.evict[0].at <= wm {
		e := p.evict.pop()
		u := p.users[e.user]
		if u == nil || u.inHeap != e.at {
			continue // gone, or a stale entry
		}
		if u.exp > wm {
			u.inHeap = u.exp
			p.evict.push(expiry{at: u.exp, user: e.user})
			continue
		}
		p.touch(u)
		delete(p.users, e.user)
		p.Stats.Evicted++
	}
	return out
}

type timer struct {
	at, start  int64
	user, rule string
}

// timerHeap is a min-heap of timers (typed: no boxing per push).
type timerHeap []timer

// less orders timers totally, so that timers due together fire (and spend
// a budget) in the same order in every run.
func (h timerHeap) less(i, j int) bool {
	a, b := &h[i], &h[j]
	if a.at != b.at {
		return a.at < b.at
	}
	if a.user != b.user {
		return a.user < b.user
	}
	if a.rule != b.rule {
		return a.rule < b.rule
	}
	return a.start < b.start
}

func (h *timerHeap) push(t timer) {
	*h = append(*h, t)
	up(*h, len(*h)-1, timerHeap.less)
}

func (h *timerHeap) pop() timer {
	old := *h
	n := len(old) - 1
	old[0], old[n] = old[n], old[0]
	down(old[:n], 0, timerHeap.less)
	t := old[n]
	old[n] = timer{}
	*h = old[:n]
	return t
}

type expiry struct {
	at   int64
	user string
}

// expHeap is a min-heap of user expiries.
type expHeap []expiry

func (h expHeap) less(i, j int) bool { return h[i].at < h[j].at }

func (h *expHeap) push(e expiry) {
	*h = append(*h, e)
	up(*h, len(*h)-1, expHeap.less)
}

func (h *expHeap) pop() expiry {
	old := *h
	n := len(old) - 1
	old[0], old[n] = old[n], old[0]
	down(old[:n], 0, expHeap.less)
	e := old[n]
	old[n] = expiry{}
	*h = old[:n]
	return e
}

func up[H ~[]E, E any](h H, j int, less func(H, int, int) bool) {
	for j > 0 {
		i := (j - 1) / 2
		if !less(h, j, i) {
			break
		}
		h[i], h[j] = h[j], h[i]
		j = i
	}
}

func down[H ~[]E, E any](h H, i int, less func(H, int, int) bool) {
	n := len(h)
	for {
		j := 2*i + 1
		if j >= n {
			return
		}
		if r := j + 1; r < n && less(h, r, j) {
			j = r
		}
		if !less(h, j, i) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}
