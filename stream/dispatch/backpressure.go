package dispatch

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Backpressure.
//
// A lane holds at most WithMaxBuffered records fetched and not done. When
// it is full, the dispatcher stops polling (a gate in front of the poller)
// rather than pausing the lane's topics: kgo drops the buffered fetch data
// of a paused topic and fetches it again after the resume, so pausing a
// full lane on every turn of its buffer would fetch each record several
// times. Kgo buffers one fetch per broker while nobody polls (sized to
// about half a lane's buffer of records, see fetchsize.go), so memory
// stays bounded either way.
//
// A full lane is paused only while the other lane wants records (it is
// not full and its partitions have records past what it has seen), so
// that a full normal lane does not hold priority records back for longer
// than a commit interval. How far the partitions go is known from fetches
// and, while a lane is full, from the end offsets listed every commit
// interval (peekEnds).

// gate lets a poller poll, or holds it until opened.
type gate struct {
	open atomic.Bool
	wake chan struct{}
}

func (g *gate) init() {
	g.wake = make(chan struct{}, 1)
	g.open.Store(true)
}

func (g *gate) set(open bool) {
	if g.open.Swap(open) != open && open {
		select {
		case g.wake <- struct{}{}:
		default:
		}
	}
}

// wait returns once the gate is open, false if ctx is done first.
func (g *gate) wait(ctx context.Context) bool {
	for !g.open.Load() {
		select {
		case <-g.wake:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// full reports whether the lane holds its bound of records, as far as
// the source (or retry) client goes: a lane whose retry partition is still
// loading is never full for the retry client, since its held source
// records wait for that loading to end.
func (l *lane) full(max int, retry bool) bool {
	if l.buffered < max {
		return false
	}
	if retry {
		for _, p := range l.parts {
			if p.retry && p.loading && !p.dropped {
				return false
			}
		}
	}
	return true
}

// wants reports whether the lane's source (or retry) partitions are known
// to have records past those seen.
func (l *lane) wants(retry bool) bool {
	for _, p := range l.parts {
		if p.retry == retry && !p.dropped && !p.revoking && p.hwm > p.seen {
			return true
		}
	}
	return false
}

// updatePause opens or closes the pollers' gates and pauses lanes: for
// each client (source, retry), its gate is open while no lane is full, or
// while some lane that is not full wants records, and then the full lanes
// are paused. The normal
// lane's source topics are also paused while the priority lane has records
// ready that wait for a handler slot, unless the normal lane's buffer runs
// low (its starvation bound: it keeps enough records to take its share of
// the slots).
func (e *engine) updatePause() {
	pr, nl := e.lanes[0], e.lanes[1]
	maxb := e.cfg.maxBuffered
	low := max(1, 2*e.cfg.maxInFlight/e.cfg.normalShare)
	peek := false
	for c, retry := range []bool{false, true} {
		prFull, nlFull := pr.full(maxb, retry), nl.full(maxb, retry)
		open := !prFull && !nlFull ||
			!prFull && pr.wants(retry) ||
			!nlFull && nl.wants(retry)
		peek = peek || prFull || nlFull
		e.gates[c].set(open)
		if e.pause == nil {
			continue
		}
		for _, l := range e.lanes {
			full := l.full(maxb, retry)
			want := open && full
			if !retry && l == nl && pr.ready > 0 && nl.buffered >= low {
				want = true
			}
			topics, paused := l.topics, &l.paused
			if retry {
				topics, paused = l.retryTopics, &l.retryPaused
			}
			if want == *paused || len(topics) == 0 {
				continue
			}
			*paused = want
			e.pause(retry, topics, want)
			if want && !retry && l == nl && !full {
				e.m.normalPaused.Inc()
			}
		}
	}
	e.peek.Store(peek)
}

// peekEnds lists the end offsets of the owned partitions while some lane
// is full, so that the gates see records arriving in the other lane
// without polling.
func (d *Dispatcher) peekEnds(ctx context.Context) {
	if !d.eng.peek.Load() {
		return
	}
	var topics []string
	d.eng.do(func() {
		seen := map[string]bool{}
		for k := range d.eng.parts {
			if !seen[k.topic] {
				seen[k.topic] = true
				topics = append(topics, k.topic)
			}
		}
	})
	if len(topics) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(d.cl).ListEndOffsets(ctx, topics...)
	if err != nil {
		return // the next interval tries again
	}
	d.eng.do(func() {
		for k, p := range d.eng.parts {
			if o, ok := ends.Lookup(k.topic, k.partition); ok && o.Err == nil && o.Offset > p.hwm {
				p.hwm = o.Offset
			}
		}
	})
}
