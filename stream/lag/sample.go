package lag

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Sample takes one sample of every monitored group's lag, adds it to the
// groups' windows and judges their status. It fails only when the groups
// cannot be described at all; a group or partition that cannot be read
// carries its error (GroupLag.Err, PartitionLag.Err) instead.
func (m *Monitor) Sample(ctx context.Context) (Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.cfg.now()

	groups, err := m.readGroups(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	snap := Snapshot{Time: now, Groups: groups}

	// The oldest unconsumed record of every lagging partition, each
	// position once even when several groups share it.
	var needs []probeNeed
	for _, g := range snap.Groups {
		for _, p := range g.Partitions {
			if p.Err == "" && p.LagRecords > 0 {
				needs = append(needs, probeNeed{key: probeKey{p.Topic, p.Partition, position(p)}, end: p.End})
			}
		}
	}
	results, errs, probed := m.probe(ctx, needs)
	snap.Probed = probed
	for gi := range snap.Groups {
		g := &snap.Groups[gi]
		for pi := range g.Partitions {
			p := &g.Partitions[pi]
			if p.Err != "" || p.LagRecords == 0 {
				continue
			}
			k := probeKey{p.Topic, p.Partition, position(*p)}
			if err, bad := errs[k]; bad {
				p.LagSeconds = -1
				p.Err = "oldest unconsumed record: " + err.Error()
				m.cfg.logger.Warn("read oldest unconsumed record", "group", g.Group, "topic", p.Topic, "partition", p.Partition, "err", err)
				continue
			}
			r := results[k]
			if !r.found {
				// Only transaction markers or aborted data before the
				// end: nothing to consume.
				p.LagRecords = 0
				continue
			}
			ts := r.ts
			p.Oldest = &ts
			p.LagSeconds = max(0, now.Sub(ts).Seconds())
		}
	}

	// Windows and statuses.
	r := rules{minSamples: m.cfg.minSamples, laggingSeconds: m.cfg.laggingSeconds.Seconds()}
	seen := make(map[string]bool, len(snap.Groups))
	for gi := range snap.Groups {
		g := &snap.Groups[gi]
		seen[g.Group] = true
		if g.Err != "" {
			g.Status = StatusUnknown
			g.Reason = g.Err
			continue
		}
		w := m.history[g.Group]
		if w == nil {
			w = newWindow(m.cfg.window)
			m.history[g.Group] = w
		}
		w.add(now, g.Partitions)
		judgeGroup(g, w, r)
	}
	for name := range m.history {
		if !seen[name] {
			delete(m.history, name)
		}
	}

	m.lastMu.Lock()
	m.last, m.have = snap, true
	m.lastMu.Unlock()
	return snap, nil
}

// position is where the group's consumers read next.
func position(p PartitionLag) int64 {
	if p.Committed < 0 || p.Committed < p.Start {
		return p.Start
	}
	return p.Committed
}

// readGroups describes the groups, fetches their commits and the offsets of
// their topics, and returns each group's partitions with lag in records.
func (m *Monitor) readGroups(ctx context.Context) ([]GroupLag, error) {
	described, err := m.adm.DescribeGroups(ctx, m.cfg.groups...)
	var shardErrs *kadm.ShardErrors
	if err != nil && (!errors.As(err, &shardErrs) || shardErrs.AllFailed) {
		return nil, fmt.Errorf("describe groups: %w", err)
	}
	out := make(map[string]*GroupLag)
	var names []string
	for _, d := range described {
		g := &GroupLag{Group: d.Group, State: d.State, Members: len(d.Members)}
		out[d.Group] = g
		if d.Err != nil {
			g.Err = "describe: " + d.Err.Error()
			continue
		}
		names = append(names, d.Group)
	}
	for _, name := range m.cfg.groups {
		if _, ok := out[name]; !ok {
			out[name] = &GroupLag{Group: name, Err: fmt.Sprintf("describe: %v", errOr(err, "group missing from the response"))}
		}
	}

	var commits kadm.FetchOffsetsResponses
	if len(names) > 0 {
		commits = m.adm.FetchManyOffsets(ctx, names...)
	}
	topicSet := make(map[string]bool)
	groupTopics := make(map[string]map[string]bool, len(names))
	for _, name := range names {
		d, c := described[name], commits[name]
		if c.Err != nil {
			out[name].Err = "fetch committed offsets: " + c.Err.Error()
			continue
		}
		ts := make(map[string]bool)
		for t, ps := range c.Fetched {
			for _, o := range ps {
				if o.Err == nil && o.At >= 0 {
					ts[t] = true
				}
			}
		}
		for t := range d.AssignedPartitions() {
			ts[t] = true
		}
		for _, t := range d.JoinTopics() {
			ts[t] = true
		}
		if d.State == "Dead" && len(ts) == 0 && len(m.cfg.groups) > 0 {
			out[name].Err = "no such group"
			continue
		}
		groupTopics[name] = ts
		for t := range ts {
			topicSet[t] = true
		}
	}

	var starts, ends kadm.ListedOffsets
	if len(topicSet) > 0 {
		topics := make([]string, 0, len(topicSet))
		for t := range topicSet {
			topics = append(topics, t)
		}
		if starts, err = listed(m.adm.ListStartOffsets(ctx, topics...)); err != nil {
			return nil, fmt.Errorf("list start offsets: %w", err)
		}
		// The last stable offset: what a read_committed consumer reads up
		// to (the high watermark when no transaction is open).
		if ends, err = listed(m.adm.ListCommittedOffsets(ctx, topics...)); err != nil {
			return nil, fmt.Errorf("list end offsets: %w", err)
		}
	}
	for name, ts := range groupTopics {
		out[name].Partitions = groupPartitions(described[name], commits[name].Fetched, ts, starts, ends)
	}

	groups := make([]GroupLag, 0, len(out))
	for _, g := range out {
		groups = append(groups, *g)
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].Group < groups[j].Group })
	return groups, nil
}

// listed keeps partial results of a list-offsets call: partitions of a
// failed shard are missing and get an error of their own.
func listed(lo kadm.ListedOffsets, err error) (kadm.ListedOffsets, error) {
	var shardErrs *kadm.ShardErrors
	if err != nil && (!errors.As(err, &shardErrs) || shardErrs.AllFailed) {
		return nil, err
	}
	return lo, nil
}

func errOr(err error, msg string) any {
	if err != nil {
		return err
	}
	return msg
}

// groupPartitions returns a group's lag on every partition of its topics.
// Topics that no longer exist are left out.
func groupPartitions(d kadm.DescribedGroup, commits kadm.OffsetResponses, topics map[string]bool,
	starts, ends kadm.ListedOffsets) []PartitionLag {
	members := make(map[partKey]string)
	for _, mem := range d.Members {
		if a, ok := mem.Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				for _, p := range t.Partitions {
					members[partKey{t.Topic, p}] = mem.ClientID
				}
			}
		}
	}
	var ps []PartitionLag
	for t := range topics {
		if _, missing := ends[t][-1]; missing {
			continue // UnknownTopicOrPartition: the topic is gone
		}
		parts := make(map[int32]bool)
		for p := range ends[t] {
			parts[p] = true
		}
		for p := range commits[t] {
			parts[p] = true
		}
		for k := range members {
			if k.topic == t {
				parts[k.partition] = true
			}
		}
		for p := range parts {
			ps = append(ps, partitionLag(t, p, commits, starts, ends, members[partKey{t, p}]))
		}
	}
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Topic != ps[j].Topic {
			return ps[i].Topic < ps[j].Topic
		}
		return ps[i].Partition < ps[j].Partition
	})
	return ps
}

func partitionLag(t string, p int32, commits kadm.OffsetResponses, starts, ends kadm.ListedOffsets, member string) PartitionLag {
	// Unreadable offsets leave both lags unknown (-1).
	pl := PartitionLag{Topic: t, Partition: p, Committed: -1, Member: member, LagRecords: -1, LagSeconds: -1}
	if c, ok := commits.Lookup(t, p); ok {
		if c.Err != nil {
			pl.Err = "committed offset: " + c.Err.Error()
			return pl
		}
		pl.Committed = c.At
	}
	end, err := offsetAt(ends, t, p)
	if err != nil {
		pl.Err = "end offset: " + err.Error()
		return pl
	}
	start, err := offsetAt(starts, t, p)
	if err != nil {
		pl.Err = "start offset: " + err.Error()
		return pl
	}
	pl.Start, pl.End = start, end
	pl.BelowStart = pl.Committed >= 0 && pl.Committed < start
	pl.LagRecords = max(0, end-position(pl))
	pl.LagSeconds = 0 // set from the oldest unconsumed record when lag > 0
	return pl
}

func offsetAt(lo kadm.ListedOffsets, t string, p int32) (int64, error) {
	o, ok := lo.Lookup(t, p)
	switch {
	case !ok:
		return 0, kerr.UnknownTopicOrPartition
	case o.Err != nil:
		return 0, o.Err
	}
	return o.Offset, nil
}
