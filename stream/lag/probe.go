package lag

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// probeKey names the position whose oldest unconsumed record is read.
type probeKey struct {
	topic     string
	partition int32
	offset    int64
}

// probeResult is what a probe learnt about a position.
type probeResult struct {
	// found: the first consumable record at or after the position has
	// timestamp ts. A record never changes, so this is cached for good.
	found bool
	ts    time.Time
	// emptyUpTo, when !found: nothing consumable lies in [offset,
	// emptyUpTo) (transaction markers, aborted data). Valid while the end
	// offset stays at or below it.
	emptyUpTo int64
}

// probeNeed asks for the oldest consumable record of key, reading up to end.
type probeNeed struct {
	key probeKey
	end int64
}

const (
	// probeMaxRounds bounds the fetch rounds of one probe: a round moves
	// past batches holding only markers or aborted data.
	probeMaxRounds = 8
	// probePartitionBytes asks each partition for about one batch. A
	// broker returns at least one whole batch for the first partition of a
	// response even when it is larger; a partition cut short elsewhere is
	// asked again in a request of its own.
	probePartitionBytes = 64 << 10
	probeResponseBytes  = 8 << 20
)

var decompressor = kgo.DefaultDecompressor()

// cached returns the cached result for n, if it still holds.
func (m *Monitor) cached(n probeNeed) (probeResult, bool) {
	r, ok := m.cache[n.key]
	if !ok || (!r.found && r.emptyUpTo < n.end) {
		return probeResult{}, false
	}
	return r, true
}

// probe reads the oldest consumable record of every need, from the cache or
// from the partitions' leaders, within the probe timeout. It returns the
// results, the errors of the needs that could not be read, and how many
// needs went to the brokers. The cache keeps only this probe's keys.
func (m *Monitor) probe(ctx context.Context, needs []probeNeed) (map[probeKey]probeResult, map[probeKey]error, int) {
	results := make(map[probeKey]probeResult, len(needs))
	errs := make(map[probeKey]error)
	var todo []*probeState
	seen := make(map[probeKey]bool, len(needs))
	for _, n := range needs {
		if seen[n.key] {
			continue
		}
		seen[n.key] = true
		if r, ok := m.cached(n); ok {
			results[n.key] = r
			continue
		}
		todo = append(todo, &probeState{need: n, at: n.key.offset})
	}
	probed := len(todo)
	if probed > 0 {
		ctx, cancel := context.WithTimeout(ctx, m.cfg.probeTimeout)
		m.fetchOldest(ctx, todo)
		cancel()
		for _, s := range todo {
			switch {
			case s.err != nil:
				errs[s.need.key] = s.err
			case s.done:
				results[s.need.key] = s.result
			default:
				errs[s.need.key] = fmt.Errorf("no record read from offset %d within %s and %d fetch rounds",
					s.need.key.offset, m.cfg.probeTimeout, probeMaxRounds)
			}
		}
	}
	m.cache = make(map[probeKey]probeResult, len(results))
	for k, r := range results {
		m.cache[k] = r
	}
	return results, errs, probed
}

// probeState follows one need across fetch rounds.
type probeState struct {
	need   probeNeed
	at     int64 // next offset to fetch
	alone  bool  // cut short in a shared request: ask in a request of its own
	done   bool
	result probeResult
	err    error
}

// fetchOldest runs fetch rounds until every state is done, failed, or the
// rounds or ctx run out.
func (m *Monitor) fetchOldest(ctx context.Context, states []*probeState) {
	topics := make(map[string]bool)
	for _, s := range states {
		topics[s.need.key.topic] = true
	}
	names := make([]string, 0, len(topics))
	for t := range topics {
		names = append(names, t)
	}
	meta, err := m.adm.Metadata(ctx, names...)
	if err != nil {
		for _, s := range states {
			s.err = fmt.Errorf("metadata: %w", err)
		}
		return
	}
	for round := 0; round < probeMaxRounds && ctx.Err() == nil; round++ {
		// Requests: one per leader for the shared states, one per state
		// that must be asked alone.
		byLeader := make(map[int32][]*probeState)
		var alone [][]*probeState
		pending := 0
		for _, s := range states {
			if s.done || s.err != nil {
				continue
			}
			pending++
			td, ok := meta.Topics[s.need.key.topic]
			if !ok || td.Err != nil {
				s.err = fmt.Errorf("metadata: topic %s: %v", s.need.key.topic, topicErr(td.Err))
				continue
			}
			pd, ok := td.Partitions[s.need.key.partition]
			if !ok || pd.Err != nil || pd.Leader < 0 {
				s.err = fmt.Errorf("metadata: partition %d has no leader: %v", s.need.key.partition, topicErr(pd.Err))
				continue
			}
			if s.alone {
				alone = append(alone, []*probeState{s})
			} else {
				byLeader[pd.Leader] = append(byLeader[pd.Leader], s)
			}
		}
		if pending == 0 {
			return
		}
		var wg sync.WaitGroup
		send := func(leader int32, batch []*probeState) {
			defer wg.Done()
			m.fetchRound(ctx, leader, meta.Topics, batch)
		}
		for leader, batch := range byLeader {
			wg.Add(1)
			go send(leader, batch)
		}
		for _, batch := range alone {
			wg.Add(1)
			s := batch[0]
			go send(meta.Topics[s.need.key.topic].Partitions[s.need.key.partition].Leader, batch)
		}
		wg.Wait() // every send ends with ctx at the latest
	}
}

func topicErr(err error) error {
	if err == nil {
		return kerr.UnknownTopicOrPartition
	}
	return err
}

// fetchRound sends one Fetch request for states to leader and advances them
// with what it returns.
func (m *Monitor) fetchRound(ctx context.Context, leader int32, topics kadm.TopicDetails, states []*probeState) {
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis = 0
	req.MinBytes = 0
	req.MaxBytes = probeResponseBytes
	req.IsolationLevel = 1 // read_committed: lag of committed data, as consumers see it
	byTopic := make(map[string]int)
	for _, s := range states {
		i, ok := byTopic[s.need.key.topic]
		if !ok {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = s.need.key.topic
			rt.TopicID = [16]byte(topics[s.need.key.topic].ID)
			req.Topics = append(req.Topics, rt)
			i = len(req.Topics) - 1
			byTopic[s.need.key.topic] = i
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = s.need.key.partition
		rp.FetchOffset = s.at
		rp.PartitionMaxBytes = probePartitionBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	resp, err := req.RequestWith(ctx, m.cl.Broker(int(leader)))
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		if ctx.Err() == nil { // on timeout, probe reports what is left
			for _, s := range states {
				s.err = fmt.Errorf("fetch from broker %d: %w", leader, err)
			}
		}
		return
	}
	names := make(map[[16]byte]string, len(topics))
	for name, td := range topics {
		names[[16]byte(td.ID)] = name
	}
	got := make(map[probeKey]*kmsg.FetchResponseTopicPartition)
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		name := rt.Topic
		if name == "" {
			name = names[rt.TopicID]
		}
		for j := range rt.Partitions {
			got[probeKey{topic: name, partition: rt.Partitions[j].Partition}] = &rt.Partitions[j]
		}
	}
	for _, s := range states {
		rp, ok := got[probeKey{topic: s.need.key.topic, partition: s.need.key.partition}]
		if !ok {
			s.alone = true // left out of the response: ask alone
			continue
		}
		s.advance(rp)
	}
}

// advance reads one partition's fetched batches.
func (s *probeState) advance(rp *kmsg.FetchResponseTopicPartition) {
	fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{
		Offset:         s.at,
		IsolationLevel: kgo.ReadCommitted(),
		Topic:          s.need.key.topic,
		Partition:      s.need.key.partition,
	}, rp, decompressor, nil)
	if fp.Err != nil && len(fp.Records) == 0 {
		s.err = fmt.Errorf("fetch offset %d: %w", s.at, fp.Err)
		return
	}
	for _, r := range fp.Records {
		if r.Offset >= s.at && !r.Attrs.IsControl() {
			s.done = true
			s.result = probeResult{found: true, ts: r.Timestamp}
			return
		}
	}
	lso := rp.LastStableOffset
	if lso < 0 {
		lso = s.need.end
	}
	if next > s.at {
		s.at = next
		s.alone = false
	} else if s.at < s.need.end && s.at < lso {
		// No batch came back although records lie ahead: the partition
		// was cut short behind another one. Ask alone once.
		if !s.alone {
			s.alone = true
			return
		}
		s.err = fmt.Errorf("fetch offset %d: no record returned below end %d", s.at, s.need.end)
		return
	}
	if s.at >= s.need.end || s.at >= lso {
		// Only transaction markers or aborted data up to the end.
		s.done = true
		s.result = probeResult{emptyUpTo: s.at}
	}
}
