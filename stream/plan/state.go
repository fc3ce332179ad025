package plan

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/surgeio/surge/stream/dispatch"
)

// TopicState is a topic as the cluster has it now.
type TopicState struct {
	Topic       string `json:"topic"`
	Exists      bool   `json:"exists"`
	Partitions  int32  `json:"partitions"`
	Replication int16  `json:"replication"`
}

// GroupState is a consumer group as the cluster has it now.
type GroupState struct {
	Group string `json:"group"`
	// State is the coordinator's word: Stable, Empty, PreparingRebalance,
	// CompletingRebalance or Dead.
	State   string `json:"state"`
	Members int    `json:"members"`
	// Topics are the watched topics the group reads (members joined for
	// them, or the group has committed offsets on them), sorted.
	Topics []string `json:"topics"`
	// Dispatch is true for a dispatch group: it has a retry topic
	// (dispatch.RetryTopic) for one of its topics.
	Dispatch bool `json:"dispatch"`
}

// State is what the cluster has now, for the topics a plan covers.
type State struct {
	Brokers int                   `json:"brokers"`
	Topics  map[string]TopicState `json:"topics"`
	Groups  []GroupState          `json:"groups"`
}

// Topic returns the state of topic (Exists false when the cluster lacks
// it).
func (s *State) Topic(topic string) TopicState {
	if t, ok := s.Topics[topic]; ok {
		return t
	}
	return TopicState{Topic: topic}
}

// Group returns the state of group, if the cluster knows it.
func (s *State) Group(group string) (GroupState, bool) {
	for _, g := range s.Groups {
		if g.Group == group {
			return g, true
		}
	}
	return GroupState{}, false
}

// ReadState reads the brokers, the watched topics' partition counts and
// replication, and the consumer groups that read any of them, with their
// members and state.
func ReadState(ctx context.Context, adm *kadm.Client, topics []string) (*State, error) {
	// Asking for authorized operations makes kadm go to the broker instead
	// of its metadata cache, which may miss a topic created a moment ago.
	ctx = kadm.WithAuthorizedOps(ctx)
	md, err := adm.Metadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("read cluster metadata: %w", err)
	}
	st := &State{Brokers: len(md.Brokers), Topics: map[string]TopicState{}}
	watched := map[string]bool{}
	for _, t := range topics {
		watched[t] = true
		ts := TopicState{Topic: t}
		if td, ok := md.Topics[t]; ok && td.Err == nil {
			ts.Exists = true
			ts.Partitions = int32(len(td.Partitions))
			ts.Replication = int16(td.Partitions.NumReplicas())
		} else if ok && td.Err != nil && !errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
			return nil, fmt.Errorf("describe topic %s: %w", t, td.Err)
		}
		st.Topics[t] = ts
	}

	listed, err := adm.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("list consumer groups: %w", err)
	}
	names := listed.Groups()
	if len(names) == 0 {
		return st, nil
	}
	described, err := adm.DescribeGroups(ctx, names...)
	if err != nil && len(described) == 0 {
		return nil, fmt.Errorf("describe consumer groups: %w", err)
	}
	committed := adm.FetchManyOffsets(ctx, names...)
	for _, name := range names {
		reads := map[string]bool{}
		g := GroupState{Group: name}
		if d, ok := described[name]; ok && d.Err == nil {
			g.State, g.Members = d.State, len(d.Members)
			for _, t := range d.JoinTopics() {
				reads[t] = true
			}
			for t := range d.AssignedPartitions() {
				reads[t] = true
			}
		}
		if c, ok := committed[name]; ok && c.Err == nil {
			for t := range c.CommittedPartitions() {
				reads[t] = true
			}
		}
		for t := range reads {
			if watched[t] {
				g.Topics = append(g.Topics, t)
			}
			if _, ok := md.Topics[dispatch.RetryTopic(name, t)]; ok && watched[t] {
				g.Dispatch = true
			}
		}
		if len(g.Topics) == 0 || strings.HasPrefix(name, probePrefix) {
			continue
		}
		sort.Strings(g.Topics)
		st.Groups = append(st.Groups, g)
	}
	sort.Slice(st.Groups, func(i, j int) bool { return st.Groups[i].Group < st.Groups[j].Group })
	return st, nil
}
