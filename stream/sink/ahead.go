package sink

import (
	"context"
	"time"
)

// flushLoop flushes the jobs handed off, in order, until s.jobs is closed.
// While it writes one job it takes the next one as soon as the consumer
// hands it off (the consumer then goes on filling a third, as a one-slot
// queue would let it), and once the first job's dedup decisions are made it
// probes the next one's records against the dedup windows (probeAhead):
// that work, one cache miss per record in sets far larger than the caches,
// then overlaps the ClickHouse writes instead of following them.
func (s *Sink) flushLoop(ctx context.Context) {
	var next *job
	for {
		j := next
		if j == nil {
			var ok bool
			if j, ok = <-s.jobs; !ok {
				return
			}
		}
		decided := make(chan struct{})
		stop := make(chan struct{})
		ahead := make(chan *job, 1)
		go func() { // ended by stop
			defer close(ahead)
			var n *job
			select {
			case n = <-s.jobs:
				if n == nil {
					return // closed: the loop sees it on its next receive
				}
			case <-stop:
				return
			}
			select {
			case <-decided:
				s.probeAhead(n)
			case <-stop: // j was not decided (ctx done): n is decided in full
			}
			ahead <- n
		}()
		s.flush(ctx, j, func() { close(decided) })
		close(stop)
		next = <-ahead // nil when nothing was taken
	}
}

// probeAhead probes j's records against the dedup windows (dedup.probe),
// as the first pass of decide would. It runs only after the previous job's
// decisions, so the windows hold every earlier record, and while that job
// is being written, which does not touch the windows. It probes nothing when a scope of j's
// records is not loaded (decide loads it, after the previous job's claims
// landed). decide probes again the records of a scope whose window was
// dropped or reloaded since; the hashes added here only cost exact lookups.
func (s *Sink) probeAhead(j *job) {
	d := s.dedup
	if d == nil || len(j.entries) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.missingScopes(j) != nil {
		return
	}
	seen, _ := d.probe(j, time.Now(), d.seen[:0]) // decide collects its own
	d.seen = seen[:0]
	j.ahead = true
}
