package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/surgeio/surge/stream/dispatch"
)

// Rehearsal settings and targets.
const (
	// rhUtilization is the offered load over the one-at-a-time side's
	// nominal capacity at the old partition count (partitions / 20 ms).
	rhUtilization = 0.8
	// rhThreshold is the latency (p99) under which the resized side counts
	// as recovered.
	rhThreshold = 100 * time.Millisecond
	// rhResizeTarget: p99 after the resize at least this many times lower
	// than before (operators report 500 ms -> 50 ms, 10x, for such a resize).
	rhResizeTarget = 5.0
	// rhConcTarget: per-key concurrency's p99 at the old count within this
	// factor of the resized side's p99.
	rhConcTarget = 2.0
	// rhResizeFactor is the new partition count over the old.
	rhResizeFactor = 4
)

// runRehearsal is the peak rehearsal: orders at 80% of what 8 partitions
// handled one record at a time (20 ms each) can take, end-to-end latency
// before, during and after `surge topics resize` grows the topic to 32
// while the load goes on; then the same load on 8 partitions with
// per-key concurrency and no resize.
func runRehearsal(ctx context.Context, e *env) (*section, error) {
	from := int32(e.cfg.partitions)
	to := rhResizeFactor * from
	rate := rhUtilization * float64(from) / dispatchHandlerLatency.Seconds()
	warm, before, after, window := 5*time.Second, 40*time.Second, 30*time.Second, 30*time.Second
	if e.cfg.quick {
		warm, before, after, window = 3*time.Second, 12*time.Second, 8*time.Second, 10*time.Second
	}
	users := rhUserIDs(rhUsers, int(from))
	sides := []rhSide{
		{name: "rehearsal-a", label: "one at a time per partition", from: from, resizeTo: to, total: int(to), perP: 1,
			rate: rate, warmUp: warm, before: before, after: after, recoverLimit: 30 * time.Second},
		{name: "rehearsal-b", label: "per-key concurrency", from: from, total: dispatch.DefaultMaxInFlight, perP: 1000,
			rate: rate, warmUp: warm, before: window},
	}
	var res []*rhResult
	for _, s := range sides {
		e.printf("%s: %d partitions, %s records/s offered (%.0f%% of %d partitions / %s), %s users",
			s.label, s.from, fmtRate(s.rate), 100*rhUtilization, s.from, fmtMs(dispatchHandlerLatency), fmtCount(int64(len(users))))
		r, err := runRHSide(ctx, e, s, users)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.label, err)
		}
		for _, ph := range r.phases {
			e.printf("  %s: %s", ph.name, rhPhaseLine(ph.w))
		}
		if r.dispErr != nil {
			e.printf("  dispatcher ended with: %v", r.dispErr)
		}
		res = append(res, r)
	}
	return rhSection(res), nil
}

// rhPhaseLine is a phase's figures for the progress output.
func rhPhaseLine(w rhWindow) string {
	return fmt.Sprintf("%d records, p50 %s, p99 %s, max %s, offered %s/s, handled %s/s",
		w.sent, fmtMs(quantile(w.lat, 0.5)), fmtMs(quantile(w.lat, 0.99)), fmtMs(quantile(w.lat, 1)),
		fmtRate(rate(int64(w.sent), w.dur())), fmtRate(rate(int64(w.handled), w.dur())))
}

// rhSection builds the results section from side A (resized) and side B
// (per-key concurrency).
func rhSection(res []*rhResult) *section {
	a, b := res[0], res[1]
	pre, post, conc := a.phases[0].w, a.phases[len(a.phases)-1].w, b.phases[0].w
	p99 := func(w rhWindow) time.Duration { return quantile(w.lat, 0.99) }
	ratio, rel := 0.0, 0.0
	if p99(post) > 0 {
		ratio = float64(p99(pre)) / float64(p99(post))
		rel = float64(p99(conc)) / float64(p99(post))
	}
	lost, viol, risk := 0, 0, 0
	for _, r := range res {
		lost += r.out.lost + r.out.produceErrs
		viol += r.out.violations + r.out.concurrent
		risk += r.out.atRisk
	}
	rz := a.resize
	recovered := "not within the run"
	if rz.recoveredO {
		recovered = fmtSec(rz.recovered)
	}
	metResize := len(pre.lat) > 0 && len(post.lat) > 0 && ratio >= rhResizeTarget
	metConc := len(conc.lat) > 0 && len(post.lat) > 0 && rel <= rhConcTarget
	metSafe := lost == 0 && viol == 0
	f, t := a.side.from, a.side.resizeTo
	sec := &section{
		Summary: fmt.Sprintf("rehearsal: one at a time per partition at %s records/s: p99 %s at %d partitions -> %s after the resize to %d (%.1f×, target >= %.0f×)%s; resize %s, p99 under %s again %s after it began; per-key concurrency at %d partitions p99 %s (%.2f× the resized side, target <= %.0f×)%s; lost %d, order violations %d%s",
			fmtRate(a.side.rate), fmtMs(p99(pre)), f, fmtMs(p99(post)), t, ratio, rhResizeTarget, verdict(metResize),
			fmtSec(rz.plan+rz.apply), fmtMs(rhThreshold), recovered, f, fmtMs(p99(conc)), rel, rhConcTarget, verdict(metConc),
			lost, viol, verdict(metSafe)),
		Targets: []target{
			{Goal: fmt.Sprintf("p99 after the %d -> %d resize >= %.0f× lower than before (operators report 500 ms -> 50 ms for such a resize), one at a time per partition, 20 ms handlers", f, t, rhResizeTarget),
				Result: fmt.Sprintf("%s -> %s (%.1f×)", fmtMs(p99(pre)), fmtMs(p99(post)), ratio), Met: metResize},
			{Goal: fmt.Sprintf("per-key concurrency at %d partitions, no resize: p99 within %.0f× of the resized side's (same order)", f, rhConcTarget),
				Result: fmt.Sprintf("%s vs %s (%.2f×)", fmtMs(p99(conc)), fmtMs(p99(post)), rel), Met: metConc},
			{Goal: "nothing lost and per-key order kept, across the resize too",
				Result: fmt.Sprintf("lost %d, order violations %d (%d records on moved keys written while their previous record was pending)", lost, viol, risk), Met: metSafe},
		},
	}

	var rows [][]string
	for _, r := range res {
		for _, ph := range r.phases {
			w := ph.w
			rows = append(rows, []string{r.side.label, ph.name, fmtCount(int64(w.sent)), fmtRate(rate(int64(w.sent), w.dur())),
				fmtRate(rate(int64(w.handled), w.dur())), fmtMs(quantile(w.lat, 0.5)), fmtMs(quantile(w.lat, 0.99)), fmtMs(quantile(w.lat, 1)),
				fmtSec(w.dur())})
		}
	}
	var body strings.Builder
	body.WriteString(mdTable([]string{"side", "phase", "records", "offered/s", "handled/s", "p50", "p99", "max", "window"}, rows))
	body.WriteString("\n")
	var checks [][]string
	for _, r := range res {
		o := r.out
		checks = append(checks, []string{r.side.label, fmtCount(int64(o.sent)), fmt.Sprint(o.produceErrs), fmt.Sprint(o.lost),
			fmt.Sprint(o.dups), fmt.Sprint(o.violations), fmt.Sprint(o.concurrent), fmtCount(int64(o.onNew)),
			fmt.Sprintf("%d records of %d keys", o.atRisk, o.atRiskKeys)})
	}
	body.WriteString(mdTable([]string{"side", "records sent", "produce errors", "lost", "redelivered", "order violations",
		"concurrent calls of a key", "handled on new partitions", "at risk"}, checks))
	missing := "none"
	if len(rz.missing) > 0 {
		missing = strings.Join(rz.missing, ", ")
	}
	firstNew := "none"
	if rz.firstNew > 0 {
		firstNew = fmtSec(rz.firstNew) + " after it began"
	}
	fmt.Fprintf(&body, `
The resize, run the way `+"`surge topics resize orders --partitions %d`"+` runs it
(control.NewResizer, Plan with a 10,000-record key sample, Apply with the
default switch timeout) while the load went on: plan %s, apply %s (%s);
%.0f%% of keys move; producers that did not switch: %s. First record
handled on a new partition: %s. The p99 latency was back under %s for
the records sent from %s after the resize began (the first 2 s of send
time whose half-second slices all had a p99 under it).
`, t, fmtMs(rz.plan), fmtMs(rz.apply), strings.Join(rz.steps, ", "), 100*rz.moved, missing, firstNew,
		fmtMs(rhThreshold), recovered)
	realCap := 0.0
	if a.out.handlerMean > 0 {
		realCap = float64(f) / a.out.handlerMean.Seconds()
	}
	fmt.Fprintf(&body, `
Method. One in-process broker per side; an orders topic of %d partitions;
a stream.Producer (default linger, acks=all, taking part in resizes) fed
open loop at %s records/s: record n is due at n/rate and is handed to the
producer when due, whatever happens downstream. The records are shopper
sessions of %s users: an order, then its "paid" status change %s later
and "shipped" %s later, all keyed by the user, so that a key has records
close together and the resize finds keys with records on both sides of
it. The users are picked so that each of the %d partitions holds as many
of them (after the resize the murmur2 hash decides). Each record's event
id carries its number; the handler looks the record up and sleeps %s.

Latency is end to end: from handing the record to the producer until its
handler call **ended**, so it includes the %s of work (the floor is %s
plus the producer's linger and a fetch). Phases are by send time: before
is the %s after a %s warm-up (group join, queues filling); during runs
from the start of the resize until the records sent over the last second
were handled within %s at the 99th percentile; after is the %s from then.
Handled/s counts the handler calls that ended in the phase's window.

- **one at a time per partition**: stream/dispatch with at most one
  handler per partition (WithMaxInFlight(%d, 1)): a plain consumer group
  with ordered per-partition processing, bound to partitions / 20 ms =
  %.0f records/s at %d partitions and %.0f at %d. Its handler calls took
  %s on average in this run (timer slack), so %d partitions really did
  %.0f records/s and the offered load was %.0f%% of that. At that load a
  partition queues: records come at random times, a session's three close
  together, and each takes 20 ms, so waits add up, a few calls on average
  and far more in the tail. That is the peak that hurts. At %d partitions
  the same load is %.0f%% of capacity and the queue all but goes. The rate
  is %.0f%% of nominal capacity, not closer to it: nearer to 100%% of what
  the partitions really do, a few percent more sessions on one partition
  for a while take it to its limit, its queue wanders for tens of seconds,
  and the p99 depends on how long the window is more than on anything
  else.
- **per-key concurrency**: stream/dispatch with up to 1,000 handlers per
  partition (%s in all), one user's records still strictly in order, on
  %d partitions and no resize: a record waits only for its own user's
  earlier records, not behind other users' 20 ms handlers.

Checks: every record written must be handled at least once (lost: never
handled after a drain of up to 30 s); a handler call must not start
before every earlier record of its user was handled, nor while another
call of its user runs (order violations, concurrent calls). At risk
counts the records written to a new partition while their user's
previous record, on an old partition, was not yet handled: without the
resize's hold on the new partitions those could have overtaken it.
`, f, fmtRate(a.side.rate), fmtCount(rhUsers), fmtMs(rhPaidAfter), fmtMs(rhShipAfter), f, fmtMs(dispatchHandlerLatency),
		fmtMs(dispatchHandlerLatency), fmtMs(dispatchHandlerLatency), fmtSec(a.side.before), fmtSec(a.side.warmUp),
		fmtMs(rhThreshold), fmtSec(a.side.after),
		t, float64(f)/dispatchHandlerLatency.Seconds(), f, float64(t)/dispatchHandlerLatency.Seconds(), t,
		fmt.Sprintf("%.2f ms", float64(a.out.handlerMean)/float64(time.Millisecond)), f, realCap, 100*a.side.rate/realCap,
		t, 100*rhUtilization*float64(f)/float64(t), 100*rhUtilization, fmtCount(int64(b.side.total)), f)
	for _, r := range res {
		if r.out.firstViolation != "" {
			fmt.Fprintf(&body, "\nFirst order violation (%s): %s\n", r.side.label, r.out.firstViolation)
		}
		if r.dispErr != nil {
			fmt.Fprintf(&body, "\nThe %s dispatcher ended with an error: %v\n", r.side.label, r.dispErr)
		}
	}
	sec.Body = body.String()
	return sec
}

// fmtSec writes a duration in seconds with one decimal.
func fmtSec(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
