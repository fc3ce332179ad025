package sink

import (
	"fmt"
	"time"

	"github.com/surgeio/surge/analytics"
)

// Write-ahead marks (analytics.Mark, table sink_offsets) make recovery cost
// independent of history: the flusher writes an intent for every (table,
// partition) of a batch before the batch's INSERTs and a done mark after,
// and a sink taking a partition reads those marks instead of scanning the
// raw tables.

type markKey struct {
	table     analytics.Table
	topic     string
	partition int32
}

// setPositions records what ClickHouse holds of the given partitions of
// topic, for every table: the base of the flusher's next marks.
func (s *Sink) setPositions(topic string, parts []int32, pos map[analytics.Table]map[int32]analytics.Position) {
	s.marksMu.Lock()
	defer s.marksMu.Unlock()
	for _, t := range analytics.Tables {
		for _, p := range parts {
			cur, ok := pos[t][p]
			if !ok {
				cur = analytics.Position{Offset: -1}
			}
			s.marks[markKey{t, topic, p}] = cur
		}
	}
}

// dropPositions forgets partitions this instance no longer owns.
func (s *Sink) dropPositions(gone map[string][]int32) {
	s.marksMu.Lock()
	defer s.marksMu.Unlock()
	for topic, parts := range gone {
		for _, p := range parts {
			for _, t := range analytics.Tables {
				delete(s.marks, markKey{t, topic, p})
			}
		}
	}
}

// planMarks returns the intents to write before the batch's INSERTs and the
// done marks to write after them, for INSERTs stamped at.
func (s *Sink) planMarks(b *analytics.Batch, at time.Time) (intents, dones []analytics.Mark, err error) {
	s.marksMu.Lock()
	defer s.marksMu.Unlock()
	for _, r := range b.Ranges() {
		cur, ok := s.marks[markKey{r.Table, r.Topic, r.Partition}]
		if !ok {
			return nil, nil, fmt.Errorf("no known position of %s[%d] in %s", r.Topic, r.Partition, r.Table)
		}
		m := analytics.Mark{Table: r.Table, Topic: r.Topic, Partition: r.Partition,
			Seq: cur.Seq + 1, Prev: cur.Offset, Hi: r.Hi, IngestedAt: at, Probe: r.Probe}
		intents = append(intents, m)
		m.Seq, m.Done = cur.Seq+2, true
		dones = append(dones, m)
	}
	return intents, dones, nil
}

// applyMarks advances the known positions past written done marks.
func (s *Sink) applyMarks(dones []analytics.Mark) {
	s.marksMu.Lock()
	defer s.marksMu.Unlock()
	for _, m := range dones {
		k := markKey{m.Table, m.Topic, m.Partition}
		if _, ok := s.marks[k]; ok {
			s.marks[k] = analytics.Position{Offset: m.Hi, Seq: m.Seq}
		}
	}
}

// settle takes the positions read after a failed write for the partitions
// this instance still owns, and returns done marks that record them, so
// that the next reader finds a done mark rather than an unsettled intent.
func (s *Sink) settle(topic string, pos map[analytics.Table]map[int32]analytics.Position, at time.Time) []analytics.Mark {
	s.marksMu.Lock()
	defer s.marksMu.Unlock()
	var out []analytics.Mark
	for k, cur := range s.marks {
		if k.topic != topic {
			continue
		}
		p, ok := pos[k.table][k.partition]
		if !ok {
			p = analytics.Position{Offset: -1, Seq: cur.Seq}
		}
		if p.Seq < cur.Seq {
			p.Seq = cur.Seq // a done mark of ours that did not land
		}
		if p.Seq == 0 && p.Offset < 0 {
			continue // never written
		}
		p.Seq++
		s.marks[k] = p
		out = append(out, analytics.Mark{Table: k.table, Topic: topic, Partition: k.partition,
			Seq: p.Seq, Done: true, Prev: p.Offset, Hi: p.Offset, IngestedAt: at})
	}
	return out
}
