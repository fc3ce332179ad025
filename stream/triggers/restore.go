package triggers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/stream/triggers/rules"
)

// prepareTopics checks that the input topics share one partition count and
// creates the compacted changelog topic with that count if it is missing.
func (r *Runner) prepareTopics(ctx context.Context) (int32, error) {
	cl, err := r.cfg.client.NewClient()
	if err != nil {
		return 0, fmt.Errorf("create kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	td, err := adm.ListTopics(ctx, append(r.inputs(), r.changelog)...)
	if err != nil {
		return 0, fmt.Errorf("describe topics: %w", err)
	}
	var n int32
	r.topicIDs = map[string]string{}
	for _, t := range r.inputs() {
		d, ok := td[t]
		if !ok || d.Err != nil {
			return 0, fmt.Errorf("input topic %s does not exist; create the topics first (surge topics create)", t)
		}
		r.topicIDs[t] = d.ID.String()
		if c := int32(len(d.Partitions)); n == 0 {
			n = c
		} else if c != n {
			return 0, fmt.Errorf("%w: topic %s has %d partitions, the other inputs %d", ErrTopology, t, c, n)
		}
	}
	if d, ok := td[r.changelog]; ok && d.Err == nil {
		if c := int32(len(d.Partitions)); c != n {
			return 0, fmt.Errorf("%w: changelog %s has %d partitions, the inputs %d", ErrTopology, r.changelog, c, n)
		}
		return n, nil
	}
	resp, err := adm.CreateTopic(ctx, n, r.cfg.replication, map[string]*string{
		"cleanup.policy":   new("compact"),
		"compression.type": new("lz4"),
	}, r.changelog)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return 0, fmt.Errorf("create changelog topic %s: %w", r.changelog, err)
	}
	return n, nil
}

// onAssigned restores the state of newly assigned partitions from the
// changelog before any of their records is fetched.
//
// It first drops the state of every owned partition the assignment does
// not include. The range balancer is eager: each rebalance revokes all
// partitions and assigned is the whole new assignment. But the
// transaction session calls onRevoked only for the first revoke between
// two ends of a transaction (kgo.GroupTransactSession skips the user's
// callback while it already knows the transaction must abort), so a
// second rebalance before the loop ends its transaction (one with nothing
// to consume ends without ending a Kafka transaction) leaves the state
// of partitions moved to another instance here: its absence timers would
// fire coupons that instance issues too, in transactions whose offsets
// (of this instance's current partitions) the coordinator accepts.
func (r *Runner) onAssigned(ctx context.Context, cl *kgo.Client, assigned map[string][]int32) {
	var nums []int32
	for _, ps := range assigned {
		for _, p := range ps {
			if !slices.Contains(nums, p) {
				nums = append(nums, p)
			}
		}
	}
	r.mu.Lock()
	var stale []int32
	for id := range r.parts {
		if !slices.Contains(nums, id) {
			stale = append(stale, id)
		}
	}
	r.mu.Unlock()
	if len(stale) > 0 {
		slices.Sort(stale)
		revoked := map[string][]int32{}
		for _, t := range r.inputs() {
			revoked[t] = stale
		}
		r.cfg.logger.Info("dropping state of partitions no longer assigned (their revoke was not reported)", "partitions", stale)
		r.onRevoked(ctx, cl, revoked)
	}
	if len(nums) == 0 {
		return
	}
	slices.Sort(nums)
	started := time.Now()
	if r.gate != nil {
		// Before returning: kgo fetches the assigned partitions after.
		defer r.gate.Assigned(ctx, cl, assigned)
	}
	if err := r.growChangelog(ctx, cl, nums[len(nums)-1]+1); err != nil {
		if ctx.Err() == nil {
			r.fatal.Store(&err)
			r.cfg.logger.Error("grow changelog failed; stopping", "err", err)
		}
		return
	}
	parts, n, err := r.restore(ctx, cl, nums)
	if err != nil {
		if ctx.Err() == nil {
			err = fmt.Errorf("restore state of partitions %v: %w", nums, err)
			r.fatal.Store(&err)
			r.cfg.logger.Error("restore failed; stopping", "err", err)
		}
		return
	}
	now := time.Now().UnixMilli()
	r.mu.Lock()
	for id, p := range parts {
		r.parts[id] = newPart(p, r.topics, now)
	}
	r.mu.Unlock()
	r.rebalanced.Store(true)
	r.budgetsStale.Store(true) // owned shares changed
	r.refreshKeyChecks()
	r.metrics.restoreSeconds.Observe(time.Since(started).Seconds())
	r.mu.Lock()
	owned := len(r.parts)
	r.mu.Unlock()
	r.addStats(func(s *Stats) { s.Restored += n; s.Partitions = owned })
	r.cfg.logger.Info("partitions assigned", "partitions", nums, "changelog_records", n, "took", time.Since(started).Round(time.Millisecond))
}

// onRevoked drops the state of partitions this instance no longer owns. The
// transaction session aborts the open transaction, so nothing they produced
// since the last commit becomes visible.
func (r *Runner) onRevoked(_ context.Context, cl *kgo.Client, revoked map[string][]int32) {
	if r.gate != nil {
		r.gate.Revoked(cl, revoked)
	}
	r.mu.Lock()
	for _, ps := range revoked {
		for _, p := range ps {
			delete(r.parts, p)
		}
	}
	r.mu.Unlock()
	r.rebalanced.Store(true)
	r.budgetsStale.Store(true) // owned shares changed
	r.mu.Lock()
	owned := len(r.parts)
	r.mu.Unlock()
	r.addStats(func(s *Stats) { s.Partitions = owned })
	if len(revoked) > 0 {
		r.cfg.logger.Info("partitions revoked", "partitions", revoked)
	}
}

// growChangelog gives the changelog at least n partitions when a resize
// gave the inputs more (state records go to the partition number of their
// input), and waits until cl can write to them.
func (r *Runner) growChangelog(ctx context.Context, cl *kgo.Client, n int32) error {
	if leader, _, _ := cl.PartitionLeader(r.changelog, n-1); leader >= 0 {
		return nil
	}
	adm := kadm.NewClient(cl)
	td, err := adm.ListTopics(ctx, r.changelog)
	if err != nil {
		return fmt.Errorf("describe changelog: %w", err)
	}
	if have := int32(len(td[r.changelog].Partitions)); have >= n {
		return nil
	}
	resp, err := adm.UpdatePartitions(ctx, int(n), r.changelog)
	if err == nil {
		err = resp.Error()
	}
	if err != nil && !errors.Is(err, kerr.InvalidPartitions) {
		return fmt.Errorf("grow changelog %s to %d partitions: %w", r.changelog, n, err)
	}
	r.cfg.logger.Info("changelog grown to match the inputs", "changelog", r.changelog, "partitions", n)
	if leader, _, _ := cl.PartitionLeader(r.changelog, 0); leader < 0 {
		return nil // not written to yet: the first write loads the new count
	}
	for {
		if leader, _, _ := cl.PartitionLeader(r.changelog, n-1); leader >= 0 {
			return nil
		}
		cl.ForceMetadataRefresh()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// restore reads the changelog partitions nums from the start to their end.
// It reads committed data only, and first waits until no transaction is
// open on them (a crashed owner's is aborted by the transaction timeout or
// fenced by its restart), so the state matches the committed offsets.
func (r *Runner) restore(ctx context.Context, cl *kgo.Client, nums []int32) (map[int32]*rules.Partition, int64, error) {
	set := r.set.Load()
	if s := r.pending.Load(); s != nil {
		set = s
	}
	parts := make(map[int32]*rules.Partition, len(nums))
	for _, id := range nums {
		parts[id] = rules.NewPartition(set, id, r.budgetN, r.cfg.idle)
	}
	adm := kadm.NewClient(cl)
	// Wait for open transactions on the changelog to end: until then the
	// last stable offset trails the high watermark.
	var ends map[int32]int64
	for {
		hw, err := adm.ListEndOffsets(ctx, r.changelog)
		if err != nil {
			return nil, 0, fmt.Errorf("list changelog end offsets: %w", err)
		}
		lso, err := adm.ListCommittedOffsets(ctx, r.changelog)
		if err != nil {
			return nil, 0, fmt.Errorf("list changelog stable offsets: %w", err)
		}
		ends = map[int32]int64{}
		open := false
		for _, id := range nums {
			h, _ := hw.Lookup(r.changelog, id)
			s, _ := lso.Lookup(r.changelog, id)
			if h.Err != nil || s.Err != nil {
				return nil, 0, fmt.Errorf("changelog partition %d offsets: %w", id, errors.Join(h.Err, s.Err))
			}
			ends[id] = h.Offset
			open = open || s.Offset < h.Offset
		}
		if !open {
			break
		}
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	offsets := map[int32]kgo.Offset{}
	for _, id := range nums {
		if ends[id] > 0 {
			offsets[id] = kgo.NewOffset().AtStart()
		}
	}
	if len(offsets) == 0 {
		return parts, 0, nil
	}
	rc, err := r.cfg.client.NewClient(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.changelog: offsets}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(50*time.Millisecond),
		kgo.ClientID("surge-triggers-restore"),
	)
	if err != nil {
		return nil, 0, fmt.Errorf("create restore client: %w", err)
	}
	defer rc.Close()
	var n int64
	var loadErr error
	idlePolls := 0
	for len(offsets) > 0 {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := rc.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		empty := true
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			if fp.Err != nil && !errors.Is(fp.Err, context.DeadlineExceeded) {
				loadErr = errors.Join(loadErr, fmt.Errorf("fetch changelog partition %d: %w", fp.Partition, fp.Err))
			}
			for _, rec := range fp.Records {
				empty = false
				if !rec.Attrs.IsControl() {
					var v []byte
					if rec.Value != nil {
						v = rec.Value
					}
					if err := parts[fp.Partition].Load(string(rec.Key), v); err != nil {
						loadErr = errors.Join(loadErr, err)
					}
					n++
				}
				if rec.Offset >= ends[fp.Partition]-1 {
					delete(offsets, fp.Partition)
				}
			}
			// A fetch that reaches the stable end with nothing below it
			// left (compaction may remove the last offsets) also ends it.
			if _, ok := offsets[fp.Partition]; ok && len(fp.Records) == 0 && fp.Err == nil && fp.HighWatermark >= ends[fp.Partition] && fp.LastStableOffset >= ends[fp.Partition] {
				delete(offsets, fp.Partition)
			}
		})
		if loadErr != nil {
			return nil, 0, loadErr
		}
		if !empty {
			idlePolls = 0
		} else if idlePolls++; idlePolls >= 3 {
			// Three empty seconds below the listed end: compaction
			// removed the tail (our writes always end in a transaction
			// marker, which compaction keeps for a while, so this is rare).
			r.cfg.logger.Warn("changelog restore found no records up to the end offset; assuming a compacted tail",
				"partitions", strconv.Itoa(len(offsets)))
			clear(offsets)
		}
	}
	for _, p := range parts {
		p.Rebuild()
	}
	return parts, n, nil
}
