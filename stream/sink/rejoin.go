package sink

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Partitions kgo keeps assigned without announcing them again must still be
// taken again after their ownership was in doubt:
//
//   - an instance removed from its group (paused or cut off past the session
//     timeout) may join again under a new member id, and the group may leave
//     it partitions it held before (cooperative rebalancing keeps them);
//     another member may have owned and written them in between;
//   - an instance that dropped a batch because its membership check was
//     refused (dropJob: removed, or behind the group's generation) stops
//     reading those partitions, yet the group may keep them assigned to it.
//
// onAssigned, which kgo calls after every rejoin, takes them like new ones:
// fetching paused, what was read dropped, watermarks read again (after no
// INSERT of the group runs), reading restarted at the group's committed
// offsets, below which every record is written.

// rejoined reports whether the group member id changed (this instance was
// removed and joined again) and returns the partitions to take again: those
// the group had assigned it, that are not newly assigned (kgo does not
// announce them again) and that were either held across the rejoin or
// dropped meanwhile (dropJob).
func (s *Sink) rejoined(member string, assigned map[string][]int32) (map[string][]int32, bool) {
	s.ownMu.RLock()
	defer s.ownMu.RUnlock()
	rejoined := s.member != "" && s.member != member
	fresh := make(map[tp]bool)
	for t, ps := range assigned {
		for _, p := range ps {
			fresh[tp{t, p}] = true
		}
	}
	var kept map[string][]int32
	for k := range s.assigned {
		// Kept across a rejoin, or kept but dropped (dropJob) meanwhile.
		if !fresh[k] && (rejoined || s.lost[k]) {
			if kept == nil {
				kept = make(map[string][]int32)
			}
			kept[k.topic] = append(kept[k.topic], k.partition)
		}
	}
	return kept, rejoined
}

// pauseFetch pauses fetching parts and returns those it paused (not
// paused already, say by the resize gate): the ones to resume after.
func (s *Sink) pauseFetch(cl *kgo.Client, parts map[string][]int32) map[string][]int32 {
	was := make(map[tp]bool)
	for t, ps := range cl.PauseFetchPartitions(nil) {
		for _, p := range ps {
			was[tp{t, p}] = true
		}
	}
	out := make(map[string][]int32)
	for t, ps := range parts {
		for _, p := range ps {
			if !was[tp{t, p}] {
				out[t] = append(out[t], p)
			}
		}
	}
	if len(out) > 0 {
		cl.PauseFetchPartitions(out)
	}
	return out
}

// forget drops what this instance read of parts and its positions there.
func (s *Sink) forget(parts map[string][]int32) {
	s.ownMu.Lock()
	for t, ps := range parts {
		for _, p := range ps {
			delete(s.parts, tp{t, p})
			s.lost[tp{t, p}] = true
		}
	}
	s.ownMu.Unlock()
	// What the current batch holds of them is dropped when it is written
	// (ownerChanges): taking s.mu here could wait for the flusher, and kgo
	// for this callback, past the group's rebalance timeout.
	s.dropPositions(parts)
	s.dedup.invalidate(s, parts)
}

// rewind sets the fetch position of parts (paused) to the group's committed
// offsets, below which every record is written, and records it as where
// their new ownership starts reading.
func (s *Sink) rewind(ctx context.Context, cl *kgo.Client, parts map[string][]int32, states map[tp]*partState) error {
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, s.cfg.group)
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		return fmt.Errorf("fetch the group's committed offsets: %w", err)
	}
	set := make(map[string]map[int32]kgo.EpochOffset)
	for t, ps := range parts {
		set[t] = make(map[int32]kgo.EpochOffset)
		for _, p := range ps {
			at := int64(0) // nothing committed: from the start
			if o, ok := offs.Lookup(t, p); ok && o.At >= 0 {
				at = o.At
			}
			set[t][p] = kgo.EpochOffset{Epoch: -1, Offset: at}
			if ps := states[tp{t, p}]; ps != nil {
				ps.first.Store(at)
			}
		}
	}
	cl.SetOffsets(set)
	return nil
}
