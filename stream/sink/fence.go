package sink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// errNotMember says the group coordinator no longer knows this instance in
// the group's current generation: its partitions belong to others.
var errNotMember = errors.New("no longer a member of the group's current generation")

// confirmMember asks the group coordinator, just before a write, whether
// this instance is still a member of the group's current generation: it
// commits again the offsets the group holds for the job's partitions (for
// one with none yet, where the job starts: start, from jobStarts), which
// the coordinator accepts only from a current member. An instance that was
// paused or cut off longer than the session timeout learns here that its
// partitions moved, before it sends a stale batch. It retries while a
// rebalance is in progress.
func (s *Sink) confirmMember(ctx context.Context, j *job, start map[tp]int64) error {
	if len(start) == 0 {
		return nil
	}
	committed := s.cl.CommittedOffsets()
	offsets := make(map[string]map[int32]kgo.EpochOffset)
	for k, off := range start {
		eo, ok := committed[k.topic][k.partition]
		if !ok || eo.Offset < 0 {
			// Where this ownership started reading: every record before it
			// is written. Not the job's own start, past records of a batch
			// dropped before it.
			if ps := j.owners[k]; ps != nil && ps.first.Load() >= 0 {
				off = min(off, ps.first.Load())
			}
			eo = kgo.EpochOffset{Epoch: -1, Offset: off}
		}
		if offsets[k.topic] == nil {
			offsets[k.topic] = make(map[int32]kgo.EpochOffset)
		}
		offsets[k.topic][k.partition] = eo
	}
	for {
		var failed error
		var member string
		s.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				failed = err
				return
			}
			member = req.MemberID
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if e := kerr.ErrorForCode(p.ErrorCode); e != nil && failed == nil {
						failed = e
					}
				}
			}
		})
		switch {
		case failed == nil:
			if changed := s.ownerChanges(j, member); len(changed) > 0 {
				return &ownerChangedError{parts: changed}
			}
			return nil
		case errors.Is(failed, kerr.UnknownMemberID), errors.Is(failed, kerr.IllegalGeneration),
			errors.Is(failed, kerr.FencedInstanceID), errors.Is(failed, kerr.StaleMemberEpoch):
			return fmt.Errorf("%w: %v", errNotMember, failed)
		case ctx.Err() != nil:
			return ctx.Err()
		}
		// A rebalance in progress or an unreachable coordinator: ask again.
		s.cfg.logger.Warn("confirm group membership before a write; retrying", "err", failed)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// jobStarts returns the first offset of each of the job's partitions. A
// write attempt computes it once for all of its INSERTs, each of which
// confirmMember checks.
func jobStarts(j *job) map[tp]int64 {
	start := make(map[tp]int64)
	var last tp
	for i := range j.entries {
		e := &j.entries[i]
		if i > 0 && e.src.Partition == last.partition && e.src.Topic == last.topic {
			continue // a run of one partition's records, in offset order
		}
		last = tp{e.src.Topic, e.src.Partition}
		if off, ok := start[last]; !ok || e.src.Offset < off {
			start[last] = e.src.Offset
		}
	}
	return start
}

// dropJob gives up every partition of the job: the group has given them to
// other members, which read them again from the committed offsets.
func (s *Sink) dropJob(j *job, why error) {
	parts := map[string][]int32{}
	s.ownMu.Lock()
	for k := range j.next {
		delete(s.parts, k)
		s.lost[k] = true
		parts[k.topic] = append(parts[k.topic], k.partition)
	}
	for _, e := range j.entries {
		k := tp{e.src.Topic, e.src.Partition}
		if !s.lost[k] {
			delete(s.parts, k)
			s.lost[k] = true
			parts[k.topic] = append(parts[k.topic], k.partition)
		}
	}
	s.ownMu.Unlock()
	j.dropLost(s.isLost)
	s.metrics.staleBatches.Inc()
	s.cfg.logger.Warn("partitions moved to other members while this instance was paused or cut off; dropping its batch of them",
		"group", s.cfg.group, "partitions", fmtParts(parts), "err", why)
}

// ownerChangedError says that partitions of a job were lost while it was
// being built or written, and maybe assigned to this instance again: the
// coordinator accepts this member's commits (it is current), but the job's
// records of those partitions were read under the ownership that ended, and
// another member may have written them meanwhile.
type ownerChangedError struct{ parts map[tp]bool }

func (e *ownerChangedError) Error() string {
	return fmt.Sprintf("%d partitions changed owner while the batch was in hand", len(e.parts))
}

// ownerChanges returns the job's partitions whose ownership ended since the
// job read them: lost (a pause or a cut past the session timeout), lost
// and assigned again (a new state), or held across a rejoin under a new
// member id (member, the id the check's commit was accepted under). A
// partition revoked in an orderly rebalance is not among them: the group
// waits for this member to write and commit it before another member gets
// it.
func (s *Sink) ownerChanges(j *job, member string) map[tp]bool {
	s.ownMu.RLock()
	defer s.ownMu.RUnlock()
	var out map[tp]bool
	for k, owner := range j.owners {
		now, owned := s.parts[k]
		// Read under another member id: this instance was removed from the
		// group and joined again since, and another member may have held
		// the partition in between, even if the group gave it back.
		if s.lost[k] || (owned && now != owner) || owner.member != member {
			if out == nil {
				out = make(map[tp]bool)
			}
			out[k] = true
		}
	}
	return out
}
