package loadgen

import (
	"context"
	"time"

	"golang.org/x/time/rate"
)

// Batching: the generator reserves rate tokens for a batch of records at a
// time, sized to about batchSpan of traffic at the current target rate, so
// pacing costs one limiter call per batch even at hundreds of thousands of
// records per second. The bucket holds up to catchUp of traffic, so a
// generator that overslept (a late timer, a busy machine) catches up at once
// instead of losing the time; it starts holding a single batch.
const (
	batchSpan = 2 * time.Millisecond
	maxBatch  = 256
	catchUp   = 100 * time.Millisecond
)

// spikeFactor is the height of the spike shape's burst relative to Rate.
const spikeFactor = 10

// targetRate is the rate the shape asks for at elapsed time t of a run of
// length d with nominal rate r.
func targetRate(shape Shape, r float64, d, t time.Duration) float64 {
	switch shape {
	case ShapeRamp:
		f := 1.0
		if d > 0 && t < d {
			f = float64(max(t, 0)) / float64(d)
		}
		return r * (0.1 + 0.9*f)
	case ShapeSpike:
		if d > 0 && t >= d*45/100 && t < d*55/100 {
			return r * spikeFactor
		}
	}
	return r
}

// batchFor is the batch size for target rate r (records/s); with r 0 (no
// pacing) it is maxBatch.
func batchFor(r float64) int {
	if r <= 0 {
		return maxBatch
	}
	n := int(r * batchSpan.Seconds())
	return min(max(n, 1), maxBatch)
}

// burstFor is the token bucket's size for target rate r: catchUp of
// traffic, and at least one batch.
func burstFor(r float64) int {
	return max(int(r*catchUp.Seconds()), batchFor(r))
}

// pacer spaces batches to the shape's target rate with a token bucket. A nil
// *pacer does not pace.
type pacer struct {
	shape    Shape
	rate     float64
	duration time.Duration
	start    time.Time

	lim   *rate.Limiter
	cur   float64 // limit currently set
	timer *time.Timer
}

func newPacer(shape Shape, r float64, d time.Duration, start time.Time) *pacer {
	if r <= 0 {
		return nil
	}
	cur := targetRate(shape, r, d, 0)
	t := time.NewTimer(time.Hour)
	t.Stop()
	lim := rate.NewLimiter(rate.Limit(cur), burstFor(cur))
	lim.ReserveN(start, burstFor(cur)-batchFor(cur)) // start with one batch's tokens
	return &pacer{shape: shape, rate: r, duration: d, start: start, lim: lim, cur: cur, timer: t}
}

// target is the target rate at now; 0 when not pacing.
func (p *pacer) target(now time.Time) float64 {
	if p == nil {
		return 0
	}
	return targetRate(p.shape, p.rate, p.duration, now.Sub(p.start))
}

// next waits until the next batch may be sent and returns its size. It
// returns 0 and a nil error when the batch would be due at or after deadline
// (zero: none), and ctx.Err() when ctx is done first.
func (p *pacer) next(ctx context.Context, deadline time.Time) (int, error) {
	if p == nil {
		return maxBatch, nil
	}
	now := time.Now()
	r := p.target(now)
	n := batchFor(r)
	if r != p.cur {
		p.lim.SetLimitAt(now, rate.Limit(r))
		p.lim.SetBurstAt(now, burstFor(r))
		p.cur = r
	}
	res := p.lim.ReserveN(now, n)
	if !res.OK() { // cannot happen: n never exceeds the burst
		return 0, nil
	}
	d := res.DelayFrom(now)
	if !deadline.IsZero() && !now.Add(d).Before(deadline) {
		res.CancelAt(now)
		return 0, nil
	}
	if d <= 0 {
		return n, nil
	}
	p.timer.Reset(d)
	select {
	case <-p.timer.C:
		return n, nil
	case <-ctx.Done():
		p.timer.Stop()
		res.CancelAt(time.Now())
		return 0, ctx.Err()
	}
}

func (p *pacer) stop() {
	if p != nil {
		p.timer.Stop()
	}
}
