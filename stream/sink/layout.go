package sink

import (
	"context"

	"github.com/twmb/franz-go/pkg/kadm"
)

// topicLayout is what the sink knows of a topic's partitioning: its
// partition count now, the count before its first resize on record in the
// control topic (base), and every count it had (ascending, base first).
// A key partitioned by murmur2 sits on KeyPartition(key, c) for one of
// counts, and on KeyPartition(key, base) mod base in every case: a resize
// moves a key from p only to p + k*old.
type topicLayout struct {
	current int32
	base    int32
	counts  []int32
}

// layoutOf returns the layout of topic, or one with zero counts when the
// sink has not read it yet.
func (s *Sink) layoutOf(topic string) topicLayout {
	if m := s.layouts.Load(); m != nil {
		return (*m)[topic]
	}
	return topicLayout{}
}

// refreshLayouts reads the partition counts of topics and the resizes the
// control topic records for them, and publishes the result for the decode
// workers. A failure keeps what was known (logged).
func (s *Sink) refreshLayouts(ctx context.Context, topics []string) {
	if len(topics) == 0 {
		return
	}
	td, err := kadm.NewClient(s.cl).ListTopics(ctx, topics...)
	if err != nil {
		s.cfg.logger.Warn("read partition counts; dedup scopes and partition checks keep the counts known so far", "err", err)
		return
	}
	next := map[string]topicLayout{}
	if m := s.layouts.Load(); m != nil {
		for t, l := range *m {
			next[t] = l
		}
	}
	g := s.gate.Load()
	for t, d := range td {
		if d.Err != nil || len(d.Partitions) == 0 {
			continue
		}
		cur := int32(len(d.Partitions))
		l := topicLayout{current: cur, base: cur, counts: []int32{cur}}
		if g != nil {
			st := g.State()
			l.base = st.BaseCount(t, d.ID.String(), cur)
			l.counts = st.Counts(t, d.ID.String(), cur)
		}
		next[t] = l
	}
	s.layouts.Store(&next)
}

// assignedChecks runs after the resize gate saw newly assigned partitions:
// it reads their topics' layouts and forgets their dedup scopes, which are
// loaded again on first use.
func (s *Sink) assignedChecks(ctx context.Context, assigned map[string][]int32) {
	topics := make([]string, 0, len(assigned))
	for t := range assigned {
		topics = append(topics, t)
	}
	s.refreshLayouts(ctx, topics)
	s.dedup.invalidate(s, assigned)
}
