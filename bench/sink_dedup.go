package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// runSinkDedup measures what event_id de-duplication costs the sink: rounds
// of one drain with dedup on and one with it off, on the same pre-filled
// topics, the two in alternating order (on first in odd rounds, off first in
// even ones). The target is judged on the median of the rounds' ratios:
// the two drains of a round run back to back, so a slow spell of the machine
// (a merge, the scavenger) weighs on both more often than a ratio of two
// medians taken over the whole run lets it. The default is 10 rounds: with
// 6, the median moved from run to run of one build by more than the
// target's margin (bench/RESULTS.md lists the runs).
func runSinkDedup(ctx context.Context, e *env) (*section, error) {
	f, err := startSinkFixture(ctx, e)
	if err != nil {
		return nil, err
	}
	defer f.close()
	rounds := e.cfg.dedupRounds
	run := 0
	drain1 := func(dedup bool, what string) (surgeSinkResult, error) {
		f.ch.waitMergesIdle(ctx, time.Minute)
		run++
		r, err := timeSurgeSink(ctx, e, f.ch, f.b.Addrs(), uint64(f.n), run, dedup)
		if err != nil {
			return r, fmt.Errorf("surge sink (%s): %w", what, err)
		}
		e.printf("surge sink, %s: %s rows in %.2fs: %s rows/s; %d batches, %d duplicates; CPU: bench process %.1fs, clickhouse-server %.1fs",
			what, fmtCount(int64(r.drain.final)), r.drain.took.Seconds(), fmtRate(r.drain.rate()),
			r.stats.Batches, r.stats.Duplicates, r.goCPU.Seconds(), r.chCPU.Seconds())
		return r, nil
	}
	// The first drain after the pre-fill is slower whichever mode it is.
	if _, err := drain1(false, "warm-up, dedup off (not counted)"); err != nil {
		return nil, err
	}
	type round struct{ on, off surgeSinkResult }
	var rs []round
	for i := range rounds {
		var r round
		onFirst := i%2 == 0
		for _, dedup := range []bool{onFirst, !onFirst} {
			res, err := drain1(dedup, fmt.Sprintf("round %d, dedup %s", i+1, onOff(dedup)))
			if err != nil {
				return nil, err
			}
			if dedup {
				r.on = res
			} else {
				r.off = res
			}
		}
		rs = append(rs, r)
	}

	var ratios, onRates, offRates, cpuRatios []float64
	met := 0
	var rows [][]string
	for i, r := range rs {
		ratio := r.on.drain.rate() / r.off.drain.rate()
		onCPU, offCPU := r.on.goCPU+r.on.chCPU, r.off.goCPU+r.off.chCPU
		ratios = append(ratios, ratio)
		onRates, offRates = append(onRates, r.on.drain.rate()), append(offRates, r.off.drain.rate())
		cpuRatios = append(cpuRatios, float64(offCPU)/float64(onCPU))
		if ratio >= sinkDedupShare {
			met++
		}
		first := "on"
		if i%2 == 1 {
			first = "off"
		}
		rows = append(rows, []string{fmt.Sprint(i + 1), first,
			fmt.Sprintf("%s (%.2f s)", fmtRate(r.on.drain.rate()), r.on.drain.took.Seconds()),
			fmt.Sprintf("%s (%.2f s)", fmtRate(r.off.drain.rate()), r.off.drain.took.Seconds()),
			fmt.Sprintf("%.2f", ratio),
			fmt.Sprintf("%.1f s + %.1f s (%s µs/row)", r.on.goCPU.Seconds(), r.on.chCPU.Seconds(), cpuPerRow(onCPU, r.on.drain.final)),
			fmt.Sprintf("%.1f s + %.1f s (%s µs/row)", r.off.goCPU.Seconds(), r.off.chCPU.Seconds(), cpuPerRow(offCPU, r.off.drain.final)),
		})
	}
	paired, ofMedians := median(ratios), median(onRates)/median(offRates)
	rows = append(rows, []string{"**median**", "", "**" + fmtRate(median(onRates)) + "**", "**" + fmtRate(median(offRates)) + "**",
		fmt.Sprintf("**%.2f**", paired), "", ""})
	ok := paired >= sinkDedupShare
	sorted := slices.Clone(ratios)
	slices.Sort(sorted)
	spread := fmt.Sprintf("%.2f to %.2f", sorted[0], sorted[len(sorted)-1])
	sec := &section{
		Summary: fmt.Sprintf("sink-dedup: dedup on/off %.2f (target >= %.2f%s; median of %d paired rounds, %s; %d of %d rounds >= %.2f; ratio of medians %.2f: %s vs %s rows/s); CPU per row off/on %.2f (information)",
			paired, sinkDedupShare, verdict(ok), rounds, spread, met, rounds, sinkDedupShare, ofMedians, fmtRate(median(onRates)), fmtRate(median(offRates)),
			median(cpuRatios)),
		Targets: []target{{
			Goal: fmt.Sprintf("surge sink with event_id dedup >= %.2f × dedup off (median of paired rounds)", sinkDedupShare),
			Result: fmt.Sprintf("%.2f over %d rounds (%s; %d of %d rounds met it; ratio of the medians %.2f, %s vs %s rows/s)",
				paired, rounds, spread, met, rounds, ofMedians, fmtRate(median(onRates)), fmtRate(median(offRates))),
			Met: ok,
		}},
	}
	var body strings.Builder
	body.WriteString(mdTable([]string{"round", "first", "dedup on rows/s", "dedup off rows/s", "on/off",
		"CPU on (bench process + clickhouse-server)", "CPU off"}, rows))
	fmt.Fprintf(&body, `
CPU per row, off over on (median of the rounds): %.2f.

Method:

- The topics (%d partitions each) are pre-filled once with raw franz-go with %s
  records generated with seed %d: %s user events (mean value %.0f bytes) on
  %s and %s orders and order status changes on %s.
- One drain with dedup off first, not counted (the first drain after the
  pre-fill is slower whichever mode it is), then %d rounds of two drains:
  dedup on (the default: claims written to sink_dedup_claims) and off
  (WithDedupWindow(0)), on first in odd rounds and off first in even ones.
  Merges left by the previous drain are waited out (system.merges empty, at
  most a minute) before each drain.
- Each drain: a fresh database migrated like surge's and a fresh consumer
  group; sink.New with %s, started with Run; timed from Run until every
  record of every topic is a row (`+"`"+`%s`+"`"+`, polled every %s); a count above
  the number of records fails the run.
- The target is judged on the median of the rounds' ratios (paired: a
  round's two drains run back to back); the ratio of the two modes'
  median rates is shown next to it.
- CPU: the bench process (sink and embedded broker) and the
  clickhouse-server process, from getrusage and /proc/PID/stat, over each drain.
`,
		median(cpuRatios), e.cfg.partitions, fmtCount(int64(f.n)), benchSeed, fmtCount(f.events), f.eventBytes,
		f.topics.UserEvents, fmtCount(f.orders), f.topics.Orders, rounds,
		sinkSettings(e.cfg), surgeCountQuery, countPoll)
	sec.Body = body.String()
	return sec, nil
}
