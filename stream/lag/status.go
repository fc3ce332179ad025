package lag

import (
	"fmt"
	"time"
)

// partKey names a partition.
type partKey struct {
	topic     string
	partition int32
}

// point is one partition's state at one sample.
type point struct {
	at         time.Time
	committed  int64   // -1: none
	lag        int64   // records
	lagSeconds float64 // -1: unknown
}

// window holds a group's last samples, oldest first.
type window struct {
	size  int
	times []time.Time
	parts map[partKey][]point
}

func newWindow(size int) *window {
	return &window{size: size, parts: make(map[partKey][]point)}
}

// add appends a sample of the group's partitions and drops what falls out
// of the window, including partitions the group no longer has.
func (w *window) add(at time.Time, ps []PartitionLag) {
	w.times = append(w.times, at)
	if len(w.times) > w.size {
		w.times = w.times[len(w.times)-w.size:]
	}
	next := make(map[partKey][]point, len(ps))
	for _, p := range ps {
		k := partKey{p.Topic, p.Partition}
		pts := append(w.parts[k], point{at: at, committed: p.Committed, lag: p.LagRecords, lagSeconds: p.LagSeconds})
		if len(pts) > w.size {
			pts = append([]point(nil), pts[len(pts)-w.size:]...)
		}
		next[k] = pts
	}
	w.parts = next
}

// rules are the thresholds partitions are judged with.
type rules struct {
	minSamples     int
	laggingSeconds float64 // <= 0: off
}

// judge returns a partition's status over its points (oldest first, the
// current one last) and the reason for it. members is the group's member
// count now.
func judge(pts []point, members int, r rules) (Status, string) {
	n := len(pts)
	cur := pts[n-1]
	if cur.lag == 0 {
		return StatusOK, ""
	}
	if members == 0 {
		return StatusStopped, fmt.Sprintf("no members, %d records of lag", cur.lag)
	}
	if n >= r.minSamples && stalled(pts) {
		var at string
		if cur.committed >= 0 {
			at = fmt.Sprintf("committed offset %d unchanged", cur.committed)
		} else {
			at = "no offset committed"
		}
		return StatusStalled, fmt.Sprintf("%s over %d samples (%s) with %d records of lag",
			at, n, span(pts).Round(time.Second), cur.lag)
	}
	if r.laggingSeconds > 0 && cur.lagSeconds > r.laggingSeconds {
		return StatusLagging, fmt.Sprintf("oldest unconsumed record is %.0fs old, above %.0fs",
			cur.lagSeconds, r.laggingSeconds)
	}
	if n < r.minSamples {
		return StatusUnknown, fmt.Sprintf("%d of %d samples taken", n, r.minSamples)
	}
	for _, p := range pts {
		if p.lag == 0 {
			return StatusOK, "" // caught up within the window
		}
	}
	if grew(pts, func(p point) float64 { return float64(p.lag) }) {
		return StatusLagging, fmt.Sprintf("lag grew at every sample, %d to %d records over %s",
			pts[0].lag, cur.lag, span(pts).Round(time.Second))
	}
	// The age of a backlog grows while it drains, since its records keep
	// their timestamps: growth in seconds counts only when the records
	// are not going down.
	if cur.lag >= pts[0].lag && grew(pts, func(p point) float64 { return p.lagSeconds }) {
		return StatusLagging, fmt.Sprintf("lag grew at every sample, %.0fs to %.0fs over %s",
			pts[0].lagSeconds, cur.lagSeconds, span(pts).Round(time.Second))
	}
	return StatusOK, ""
}

// stalled reports whether the committed offset stayed the same at every
// point while the lag stayed above 0.
func stalled(pts []point) bool {
	for _, p := range pts {
		if p.committed != pts[0].committed || p.lag <= 0 {
			return false
		}
	}
	return true
}

// grew reports whether v rose from every point to the next. Unknown values
// (below 0) never count as growth.
func grew(pts []point, v func(point) float64) bool {
	for i := 1; i < len(pts); i++ {
		a, b := v(pts[i-1]), v(pts[i])
		if a < 0 || b <= a {
			return false
		}
	}
	return len(pts) > 1
}

func span(pts []point) time.Duration { return pts[len(pts)-1].at.Sub(pts[0].at) }

// rate is the records consumed per second over the points: the committed
// offsets' forward moves divided by the time they span. A first commit (from
// none) and a rewind count as no consumption.
func rate(pts []point) float64 {
	secs := span(pts).Seconds()
	if secs <= 0 {
		return 0
	}
	var moved int64
	for i := 1; i < len(pts); i++ {
		if a, b := pts[i-1].committed, pts[i].committed; a >= 0 && b > a {
			moved += b - a
		}
	}
	return float64(moved) / secs
}

// judgeGroup sets the statuses, rates and totals of g from its window.
func judgeGroup(g *GroupLag, w *window, r rules) {
	g.Samples = len(w.times)
	g.Status = StatusOK
	worst := -1
	for i := range g.Partitions {
		p := &g.Partitions[i]
		pts := w.parts[partKey{p.Topic, p.Partition}]
		p.Rate = rate(pts)
		g.Rate += p.Rate
		g.LagRecords += max(0, p.LagRecords)
		g.MaxLagSeconds = max(g.MaxLagSeconds, p.LagSeconds)
		var reason string
		if p.Err != "" {
			p.Status, reason = StatusUnknown, p.Err
		} else {
			p.Status, reason = judge(pts, g.Members, r)
		}
		if worst < 0 || p.Status.severity() > g.Partitions[worst].Status.severity() {
			worst = i
			g.Status = p.Status
			g.Reason = ""
			if reason != "" {
				g.Reason = fmt.Sprintf("%s[%d]: %s", p.Topic, p.Partition, reason)
			}
		}
	}
	if g.Status == StatusStopped {
		g.Reason = fmt.Sprintf("no members, %d records of lag", g.LagRecords)
	}
}
