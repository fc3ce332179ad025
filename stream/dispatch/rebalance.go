package dispatch

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// sizePartitions shares the clients' fetches out over n owned source
// partitions (and as many retry partitions; see fetchsize.go).
func (d *Dispatcher) sizePartitions(n int) {
	for _, s := range d.sizers {
		s.setPartitions(n)
	}
}

// sources counts the owned source partitions.
func (e *engine) sources() int {
	n := 0
	for _, p := range e.parts {
		if !p.retry && !p.dropped {
			n++
		}
	}
	return n
}

func (d *Dispatcher) ownedSources() map[string][]int32 {
	out := map[string][]int32{}
	d.eng.do(func() {
		for k, p := range d.eng.parts {
			if !p.retry && !p.dropped {
				out[k.topic] = append(out[k.topic], k.partition)
			}
		}
	})
	return out
}

// onAssigned sets up newly assigned source partitions: each gets its retry
// partition, read from its committed offset; the source's records are held
// until the retry partition is read up to the end it had at assignment.
// The committed offsets of both are read here too: records below them (a
// poll from before a revoke) are ignored, and those their metadata records
// as done are skipped.
func (d *Dispatcher) onAssigned(ctx context.Context, _ *kgo.Client, assigned map[string][]int32) {
	if len(assigned) == 0 {
		return
	}
	<-d.clReady
	adm := kadm.NewClient(d.cl)
	var all []string
	for t := range assigned {
		all = append(all, t, RetryTopic(d.cfg.group, t))
	}
	var (
		committed kadm.OffsetResponses
		ends      kadm.ListedOffsets
		err       error
	)
	for attempt := 0; ; attempt++ {
		committed, err = adm.FetchOffsetsForTopics(ctx, d.cfg.group, all...)
		if err == nil {
			ends, err = d.growRetryTopics(ctx, adm, assigned)
		}
		if err == nil || ctx.Err() != nil || attempt == 20 {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err != nil {
		d.eng.log.Error("read committed offsets; retry partitions start at their beginning", "err", err)
	}
	lookup := func(t string, p int32) (int64, []span, map[int64]int) {
		if o, ok := committed.Lookup(t, p); ok && o.Err == nil && o.At >= 0 {
			spans, tries := decodeMeta(o.At, o.Metadata)
			return o.At, spans, tries
		}
		return -1, nil, nil
	}
	add := map[string]map[int32]kgo.Offset{}
	var owned int
	d.eng.do(func() {
		for t, ps := range assigned {
			rt := RetryTopic(d.cfg.group, t)
			l := d.eng.laneOf(t)
			for _, pn := range ps {
				s := newPart(d.eng.hctx, tp{t, pn}, l, false)
				r := newPart(d.eng.hctx, tp{rt, pn}, l, true)
				s.peer, r.peer = r, s
				if at, prior, _ := lookup(t, pn); at >= 0 {
					s.committed, s.seen, s.prior = at, at, prior
				}
				start, prior, tries := lookup(rt, pn)
				end := int64(0)
				if o, ok := ends.Lookup(rt, pn); ok && o.Err == nil {
					end = o.Offset
				}
				r.loadEnd = end
				r.committed, r.prior, r.priorTries = start, prior, tries
				if start < 0 {
					start = 0
				}
				r.seen = start
				if start < end {
					r.loading, s.loading = true, true
				}
				d.eng.parts[s.tp], d.eng.parts[r.tp] = s, r
				l.parts = append(l.parts, s, r)
				if add[rt] == nil {
					add[rt] = map[int32]kgo.Offset{}
				}
				add[rt][pn] = kgo.NewOffset().At(start)
			}
		}
		owned = d.eng.sources()
	})
	// Before returning: kgo fetches the assigned partitions after.
	d.sizePartitions(owned)
	d.retryCl.AddConsumePartitions(add)
	if d.gate != nil {
		// Before returning: kgo fetches the assigned partitions after.
		d.gate.Assigned(ctx, d.cl, assigned)
	}
	d.eng.log.Info("partitions assigned", "partitions", fmtParts(assigned))
}

// onRevoked hands revoked partitions over: no new handler starts for them,
// running ones get up to the revoke timeout to finish (then they are
// cancelled and their records left to the new owner), what is done is
// committed, and the partitions are dropped.
func (d *Dispatcher) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	if len(revoked) == 0 {
		return
	}
	<-d.clReady
	if d.gate != nil {
		d.gate.Revoked(d.cl, revoked)
	}
	d.finish(revoked)
	d.eng.log.Info("partitions revoked", "partitions", fmtParts(revoked))
}

// finish drains, commits and drops the given source partitions and their
// retry partitions.
func (d *Dispatcher) finish(srcs map[string][]int32) {
	only := map[tp]bool{}
	var waits []chan struct{}
	d.eng.do(func() {
		for t, ps := range srcs {
			for _, pn := range ps {
				s := d.eng.parts[tp{t, pn}]
				if s == nil || s.dropped {
					continue
				}
				only[s.tp] = true
				for _, p := range []*part{s, s.peer} {
					p.revoking = true
					if p.inflight > 0 {
						p.drained = make(chan struct{})
						waits = append(waits, p.drained)
					}
				}
			}
		}
	})
	if len(only) == 0 {
		return
	}
	deadline := time.NewTimer(d.cfg.revokeTimeout)
	defer deadline.Stop()
	for _, w := range waits {
		select {
		case <-w:
		case <-deadline.C:
			d.eng.log.Warn("handlers still running at the revoke timeout; cancelling them, the new owner redelivers their records")
			goto commit
		}
	}
commit:
	// A commit can meet another member's rebalance (REBALANCE_IN_PROGRESS):
	// try a few times, since what is not committed here is redelivered by
	// the next owner. Each try commits only what is not committed yet.
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for try := 1; ; try++ {
		err := d.commit(cctx, only)
		if err == nil {
			break
		}
		if try == 5 || cctx.Err() != nil {
			d.eng.log.Warn("commit on revoke", "err", err)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.drop(only)
}

// drop forgets partitions (source and retry) and stops reading their retry
// partitions, cancelling anything still running for them.
func (d *Dispatcher) drop(only map[tp]bool) {
	remove := map[string][]int32{}
	var owned int
	d.eng.do(func() {
		for k := range only {
			s := d.eng.parts[k]
			if s == nil {
				continue
			}
			for _, p := range []*part{s, s.peer} {
				p.dropped = true
				p.lane.buffered -= p.win.notDone() + len(p.held)
				p.lane.ready -= p.ready.len()
				p.lane.remove(p)
				delete(d.eng.parts, p.tp)
				p.cancel() // abandons handlers still running past the revoke timeout
			}
			remove[s.peer.topic] = append(remove[s.peer.topic], s.peer.partition)
		}
		owned = d.eng.sources()
	})
	d.sizePartitions(owned)
	d.retryCl.RemoveConsumePartitions(remove)
}

// onLost drops partitions another member may already own, without
// committing.
func (d *Dispatcher) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	if len(lost) == 0 {
		return
	}
	<-d.clReady
	if d.gate != nil {
		d.gate.Revoked(d.cl, lost)
	}
	only := map[tp]bool{}
	for t, ps := range lost {
		for _, p := range ps {
			only[tp{t, p}] = true
		}
	}
	d.drop(only)
	d.eng.log.Warn("partitions lost; their records are left to the new owner", "partitions", fmtParts(lost))
}

func fmtParts(m map[string][]int32) string {
	var ts []string
	for t := range m {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	s := ""
	for _, t := range ts {
		ps := append([]int32(nil), m[t]...)
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		s += fmt.Sprintf("%s%v ", t, ps)
	}
	return s
}
