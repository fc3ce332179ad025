package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/surgeio/surge/analytics"
)

// countPoll is how often a drain is checked for completion.
const countPoll = 100 * time.Millisecond

// sample is a row count seen at a time since the start of a measurement.
type sample struct {
	at time.Duration
	n  uint64
}

// drain is the outcome of watching a row count grow to its target.
type drain struct {
	want    uint64
	took    time.Duration // from start until the count first reached want
	samples []sample
	final   uint64 // the last count seen
}

// rate is rows per second over the whole drain, counting want rows: rows
// written twice do not count.
func (d drain) rate() float64 { return rate(int64(min(d.final, d.want)), d.took) }

// String lists the samples, for -v.
func (d drain) String() string {
	var b strings.Builder
	for _, s := range d.samples {
		fmt.Fprintf(&b, " %.1fs:%d", s.at.Seconds(), s.n)
	}
	return strings.TrimSpace(b.String())
}

// steadyRate is the rate between the polls where the count first reached
// 10% and 90% of want: the drain's pace without its start-up (group join,
// first fetch) and its tail (the last partial batch). It is 0 when one
// jump covers both.
func (d drain) steadyRate() float64 {
	want := d.want
	lo, hi := -1, -1
	for i, s := range d.samples {
		if lo < 0 && s.n*10 >= want {
			lo = i
		}
		if hi < 0 && s.n*10 >= want*9 {
			hi = i
		}
	}
	if lo < 0 || hi <= lo {
		return 0
	}
	a, b := d.samples[lo], d.samples[hi]
	return float64(b.n-a.n) / (b.at - a.at).Seconds()
}

// counter returns a row count.
type counter func(ctx context.Context) (uint64, error)

// countQuery is a counter running query, which returns one UInt64, on conn.
func countQuery(conn *analytics.Conn, query string) counter {
	return func(ctx context.Context) (uint64, error) {
		var n uint64
		if err := conn.DB().QueryRow(ctx, query).Scan(&n); err != nil {
			return 0, fmt.Errorf("%s: %w", query, err)
		}
		return n, nil
	}
}

// watchCount polls count every countPoll until it reaches want, measuring
// from start. It fails when the count exceeds want and exact is set (a
// duplicate), when the count has not moved for stall, or when failed
// reports an error first.
func watchCount(ctx context.Context, count counter, want uint64, start time.Time,
	exact bool, stall time.Duration, failed func() error) (drain, error) {
	var (
		d         = drain{want: want}
		lastMove  = time.Now()
		lastCount uint64
	)
	tick := time.NewTicker(countPoll)
	defer tick.Stop()
	for {
		n, err := count(ctx)
		if err != nil {
			return d, err
		}
		now := time.Now()
		d.samples = append(d.samples, sample{at: now.Sub(start), n: n})
		d.final = n
		if n >= want {
			d.took = now.Sub(start)
			if exact && n > want {
				return d, fmt.Errorf("%d rows, want exactly %d: duplicates", n, want)
			}
			return d, nil
		}
		if n != lastCount {
			lastCount, lastMove = n, now
		} else if now.Sub(lastMove) > stall {
			return d, fmt.Errorf("stuck at %d of %d rows for %s", n, want, stall)
		}
		if failed != nil {
			if err := failed(); err != nil {
				return d, err
			}
		}
		select {
		case <-ctx.Done():
			return d, ctx.Err()
		case <-tick.C:
		}
	}
}
