package control

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// releaseOffsets are the offsets a release decision reads. The Gate reads
// them from Kafka, each kind on first use only (decideRelease asks for the
// log start or a companion's end only when it needs them); tests give maps.
type releaseOffsets interface {
	// committed is the group's committed offset, 0 when it has none.
	committed(topic string, partition int32) int64
	// start is the partition's log start offset; ok is false when unknown.
	start(topic string, partition int32) (offset int64, ok bool)
	// end is the partition's end offset; ok is false when unknown.
	end(topic string, partition int32) (offset int64, ok bool)
}

// releaseDecision is what one pass of the gate decided.
type releaseDecision struct {
	// resume lists the held partitions to release, by topic.
	resume map[string][]int32
	// targets are companion end offsets observed now (link index ->
	// offset), to keep in the holds so that later passes wait for the
	// same target.
	targets map[heldKey]map[int]int64
	// incomplete lists the holds waiting for a resize whose barrier is not
	// written yet, with that resize (for the warning that says how to
	// complete it).
	incomplete map[heldKey]*Resize
	// incompleteIDs names those resizes by hold.
	incompleteIDs map[heldKey]string
}

// decideRelease decides which held partitions to release. A hold is
// released when, along its whole chain, every resize has its barrier
// written and the group consumed the parent partition past it (or the
// parent's log start is past it: records deleted below the barrier are
// never consumed), and every companion is consumed up to the end offset it
// had when the parent passed (observed now when not yet known). It does no
// I/O; offsets come from off.
func decideRelease(holds map[heldKey]hold, resizes map[string]*Resize, off releaseOffsets) releaseDecision {
	d := releaseDecision{resume: map[string][]int32{}, targets: map[heldKey]map[int]int64{},
		incomplete: map[heldKey]*Resize{}, incompleteIDs: map[heldKey]string{}}
	for k, h := range holds {
		if !chainPassed(k, h, resizes, off, &d) || !companionsPassed(k, h, off, &d) {
			continue
		}
		d.resume[k.topic] = append(d.resume[k.topic], k.partition)
	}
	for _, ps := range d.resume {
		slices.Sort(ps)
	}
	return d
}

// chainPassed reports whether every link of h's chain has its barrier and
// its parent consumed (or deleted) past it.
func chainPassed(k heldKey, h hold, resizes map[string]*Resize, off releaseOffsets, d *releaseDecision) bool {
	for _, l := range h.chain {
		r := resizes[l.resize]
		if r == nil || r.Barrier == nil {
			d.incomplete[k], d.incompleteIDs[k] = r, l.resize
			return false
		}
		if int(l.parent) >= len(r.Barrier) {
			continue
		}
		barrier := r.Barrier[l.parent]
		if off.committed(k.topic, l.parent) >= barrier {
			continue
		}
		if start, ok := off.start(k.topic, l.parent); !ok || start < barrier {
			return false
		}
	}
	return true
}

// companionsPassed reports whether every companion of h's chain is
// consumed up to its target, noting targets observed now in d (all of
// them in one pass: each is the end its companion had when the chain
// passed).
func companionsPassed(k heldKey, h hold, off releaseOffsets, d *releaseDecision) bool {
	passed := true
	for i, l := range h.chain {
		if l.compTopic == "" {
			continue
		}
		target := l.compTarget
		if target < 0 {
			end, ok := off.end(l.compTopic, l.compPart)
			if !ok {
				return false
			}
			target = end
			if d.targets[k] == nil {
				d.targets[k] = map[int]int64{}
			}
			d.targets[k][i] = target
		}
		if off.committed(l.compTopic, l.compPart) < target {
			passed = false
		}
	}
	return passed
}

// kafkaReleaseOffsets reads release offsets from Kafka: the committed
// offsets up front, the log starts and the companions' ends on first use.
type kafkaReleaseOffsets struct {
	ctx                context.Context
	adm                *kadm.Client
	topics, compTopics []string
	commits            kadm.OffsetResponses
	starts, ends       kadm.ListedOffsets
}

func (o *kafkaReleaseOffsets) committed(t string, p int32) int64 {
	if c, ok := o.commits.Lookup(t, p); ok && c.Err == nil && c.At >= 0 {
		return c.At
	}
	return 0
}

func (o *kafkaReleaseOffsets) start(t string, p int32) (int64, bool) {
	if o.starts == nil {
		var err error
		if o.starts, err = o.adm.ListStartOffsets(o.ctx, o.topics...); err != nil {
			o.starts = kadm.ListedOffsets{}
		}
	}
	l, ok := o.starts.Lookup(t, p)
	return l.Offset, ok && l.Err == nil
}

func (o *kafkaReleaseOffsets) end(t string, p int32) (int64, bool) {
	if o.ends == nil {
		var err error
		if o.ends, err = o.adm.ListEndOffsets(o.ctx, o.compTopics...); err != nil {
			o.ends = kadm.ListedOffsets{}
		}
	}
	l, ok := o.ends.Lookup(t, p)
	return l.Offset, ok && l.Err == nil
}

// release resumes the held partitions decideRelease lets go, keeps the
// companion targets it observed, and warns about holds waiting for a
// resize that was never completed.
func (g *Gate) release(ctx context.Context) {
	g.mu.Lock()
	if len(g.held) == 0 {
		g.mu.Unlock()
		return
	}
	member := g.member
	hs := make(map[heldKey]hold, len(g.held))
	for k, h := range g.held {
		c := *h
		c.chain = slices.Clone(h.chain)
		hs[k] = c
	}
	g.mu.Unlock()

	off := &kafkaReleaseOffsets{ctx: ctx, adm: g.adm}
	topicSet, compSet := map[string]bool{}, map[string]bool{}
	for k, h := range hs {
		topicSet[k.topic] = true
		for _, l := range h.chain {
			if l.compTopic != "" {
				topicSet[l.compTopic], compSet[l.compTopic] = true, true
			}
		}
	}
	off.topics, off.compTopics = slices.Collect(maps.Keys(topicSet)), slices.Collect(maps.Keys(compSet))
	var err error
	if off.commits, err = g.adm.FetchOffsetsForTopics(ctx, g.cfg.Group, off.topics...); err != nil {
		g.log.Debug("resize gate: fetch committed offsets", "err", err)
		return
	}
	d := decideRelease(hs, g.conn.State().Resizes, off)

	now := time.Now()
	var released []string
	g.mu.Lock()
	for k, r := range d.incomplete {
		gh := g.held[k]
		if gh == nil || now.Sub(gh.warned) < holdWarnEvery {
			continue
		}
		gh.warned = now
		g.log.Warn("resize gate: partition held by a resize whose barrier is not written yet; run the resize again to complete it",
			"topic", k.topic, "partition", k.partition, "resize", d.incompleteIDs[k], "held_for", now.Sub(gh.since).Round(time.Second),
			"fix", fmt.Sprintf("surge topics resize %s --partitions %d", k.topic, maxNew(r)))
	}
	for k, ts := range d.targets {
		if gh := g.held[k]; gh != nil {
			for i, t := range ts {
				if i < len(gh.chain) && gh.chain[i].compTarget < 0 {
					gh.chain[i].compTarget = t
				}
			}
		}
	}
	for t, ps := range d.resume {
		for _, p := range ps {
			if h := g.held[heldKey{t, p}]; h != nil {
				released = append(released, fmt.Sprintf("%s[%d] after %s", t, p, now.Sub(h.since).Round(time.Millisecond)))
				delete(g.held, heldKey{t, p})
			}
		}
	}
	g.mu.Unlock()
	if len(d.resume) > 0 && member != nil {
		member.ResumeFetchPartitions(d.resume)
		sort.Strings(released)
		g.log.Info("resize gate: released new partitions, their parents are consumed past the barrier", "released", fmt.Sprint(released))
	}
}
