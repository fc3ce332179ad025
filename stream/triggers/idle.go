package triggers

import (
	"context"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/stream/triggers/rules"
)

// part is an owned input partition number: its engine, and what the loop
// knows of how far it read each of its channels (input topics).
type part struct {
	*rules.Partition
	// seen is the processing time (Unix ms) of the channel's last record,
	// or of the assignment.
	seen [3]int64
	// pos is the offset after the channel's last record read (control
	// records included), -1 when nothing was read since the assignment or
	// an abort (the consumer then resumes at the committed offset).
	pos [3]int64
	out partOut
}

func newPart(p *rules.Partition, topics [3]string, now int64) *part {
	pt := &part{Partition: p}
	for ch := range pt.seen {
		pt.seen[ch], pt.pos[ch] = now, -1
		if topics[ch] == "" {
			p.SetIdle(ch, now) // not consumed: never holds the watermark back
		}
	}
	return pt
}

// idleMark is a channel found idle by checkIdle.
type idleMark struct {
	pt   *part
	id   int32
	ch   int
	seen int64
	pos  int64
}

// checkIdle finds the channels that are idle inputs: quiet for the idle
// timeout and read to their end (the position reached the partition's last
// stable offset). A channel that delivers nothing because the consumer is
// behind or stalled (a long transaction, a restore, a rebalance, a slow
// machine) is not at its end, so it keeps holding the watermark back and
// its backlog is never taken for late events: idleness is a property of the
// input, not of the consumer's timing. It asks the broker at most every
// idle/4 (250ms at most), and only when a channel has been quiet for the
// idle timeout.
func (r *Runner) checkIdle(ctx context.Context, cl *kgo.Client, now int64) []idleMark {
	idle := r.cfg.idle.Milliseconds()
	if now-r.lastIdleCheck < min(max(idle/4, 10), 250) {
		return nil
	}
	var cands []idleMark
	r.mu.Lock()
	for id, pt := range r.parts {
		for ch, topic := range r.topics {
			if topic != "" && !pt.Idle(ch) && now-pt.seen[ch] >= idle {
				cands = append(cands, idleMark{pt: pt, id: id, ch: ch, seen: pt.seen[ch], pos: pt.pos[ch]})
			}
		}
	}
	r.mu.Unlock()
	if len(cands) == 0 {
		return nil
	}
	r.lastIdleCheck = now
	var need [3]bool
	for _, c := range cands {
		need[c.ch] = true
	}
	var topics []string
	for ch, t := range r.topics {
		if need[ch] {
			topics = append(topics, t)
		}
	}
	adm := kadm.NewClient(cl)
	ends, err := adm.ListCommittedOffsets(ctx, topics...)
	if err != nil {
		r.cfg.logger.Debug("idle check: list end offsets", "err", err)
		return nil
	}
	var (
		committed map[string]map[int32]kgo.EpochOffset
		starts    kadm.ListedOffsets
	)
	out := cands[:0]
	for _, c := range cands {
		topic := r.topics[c.ch]
		end, ok := ends.Lookup(topic, c.id)
		if !ok || end.Err != nil {
			continue
		}
		pos := c.pos
		if pos < 0 {
			if committed == nil {
				committed = cl.CommittedOffsets()
			}
			if eo, ok := committed[topic][c.id]; ok && eo.Offset >= 0 {
				pos = eo.Offset
			} else {
				// Never committed: the consumer starts at the log start.
				if starts == nil {
					if starts, err = adm.ListStartOffsets(ctx, topics...); err != nil {
						return nil
					}
				}
				if s, ok := starts.Lookup(topic, c.id); ok && s.Err == nil {
					pos = s.Offset
				}
			}
		}
		if pos >= 0 && pos >= end.Offset {
			out = append(out, c)
		}
	}
	return out
}

// markIdle applies checkIdle's findings to the partitions still owned whose
// channel read nothing since. The caller holds r.mu.
func (r *Runner) markIdle(marks []idleMark, now int64) {
	for _, m := range marks {
		if r.parts[m.id] == m.pt && m.pt.seen[m.ch] == m.seen && m.pt.pos[m.ch] == m.pos {
			m.pt.SetIdle(m.ch, now)
		}
	}
}
