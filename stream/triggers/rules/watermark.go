package rules

import "strconv"

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
		u := p.user(t.user)
		if u == nil {
			continue
		}
		rs := u.rule(t.rid)
		r := p.set.byID[t.rule]
		if rs == nil || rs.pending != t.start {
			continue // cancelled, fired, or a stale duplicate
		}
		p.touch(u)
		if r == nil || !r.Enabled || r.Kind != KindAbsence {
			rs.pending = 0
		} else if at := t.start + r.Within.Milliseconds(); at >= wm {
			p.timers.push(timer{at: at, user: t.user, rule: t.rule, rid: t.rid, start: t.start})
			continue
		} else {
			rs.pending = 0
			if r.Cap == 0 || int(rs.issued) < r.Cap {
				out = p.fire(r, u, rs, "timer:"+r.ID+":"+strconv.FormatInt(t.start, 10), at, out)
			}
		}
		p.settle(u, t.at)
	}
	for len(p.expiry) > 0 && p.expiry[0].at <= wm {
		e := p.expiry.pop()
		u := e.u
		if u.gone || u.inHeap != e.at {
			continue // gone, or a stale entry
		}
		if u.exp > wm {
			u.inHeap = u.exp
			p.expiry.push(expiry{at: u.exp, u: u})
			continue
		}
		p.evict(u)
		p.Stats.Evicted++
	}
	return out
}
