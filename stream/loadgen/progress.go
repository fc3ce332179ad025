package loadgen

import "time"

// progressEvery is how often OnProgress is called during a run.
const progressEvery = 250 * time.Millisecond

// Progress is a live view of a run, passed to Config.OnProgress.
type Progress struct {
	Elapsed             time.Duration
	Sent, Acked, Failed int64
	TargetRate, Rate    float64       // records/s: the shape's target now (0 when unpaced), and handed out over the last window
	P50, P99            time.Duration // ack latency over the last window (0 when nothing was acked in it)
}

// progress calls OnProgress every progressEvery until stop is closed, then a
// last time with the final numbers.
func (g *Generator) progress(stop <-chan struct{}) {
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	var prev, cur, win snapshot
	prevSent, prevAt := int64(0), g.start
	report := func(now time.Time) {
		g.c.latency.snapshot(&cur)
		win = cur
		win.sub(&prev)
		prev = cur
		q := win.quantiles(0.50, 0.99)
		sent := g.c.sent.Load()
		var r float64
		if dt := now.Sub(prevAt).Seconds(); dt > 0 {
			r = float64(sent-prevSent) / dt
		}
		prevSent, prevAt = sent, now
		elapsed := now.Sub(g.start)
		var target float64
		if g.cfg.Rate > 0 {
			target = targetRate(g.cfg.Shape, g.cfg.Rate, g.cfg.Duration, elapsed)
		}
		g.cfg.OnProgress(Progress{
			Elapsed: elapsed,
			Sent:    sent, Acked: g.c.acked.Load(), Failed: g.c.failed.Load(),
			TargetRate: target, Rate: r,
			P50: q[0], P99: q[1],
		})
	}
	for {
		select {
		case now := <-t.C:
			report(now)
		case <-stop:
			report(time.Now())
			return
		}
	}
}
