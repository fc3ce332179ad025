package sink

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream/control"
)

type tp struct {
	topic     string
	partition int32
}

// partState is what the sink knows about a partition it owns: for each table,
// the highest offset of this partition ClickHouse already holds.
type partState struct {
	floors   map[analytics.Table]int64
	maxFloor int64
	// member is the group member id this ownership began under: a job's
	// records are written only while the coordinator accepts this
	// instance under the same id (ownerChanges).
	member string
	// first is the offset the ownership started reading at, -1 until its
	// first record: every record before it is written.
	first atomic.Int64
}

// heldMask returns which of the tables a deduplicated record may go to
// (its data table, sink_duplicates, and sink_dedup_claims for its claim)
// already hold offset.
func (p *partState) heldMask(t analytics.Table, offset int64) uint8 {
	var m uint8
	if p.holds(t, offset) {
		m |= heldRow
	}
	if p.holds(analytics.TableDuplicates, offset) {
		m |= heldDup
	}
	if p.holds(analytics.TableClaims, offset) {
		m |= heldClaim
	}
	return m
}

func (p *partState) holds(t analytics.Table, offset int64) bool {
	if offset > p.maxFloor {
		return false
	}
	f, ok := p.floors[t]
	return ok && offset <= f
}

// entry is one consumed record on its way to a table.
type entry struct {
	src    analytics.Source
	table  analytics.Table
	rec    schemas.Record // nil for a reject
	reason string         // why the record was rejected
	raw    []byte         // the rejected record's bytes
	key    []byte
	ts     time.Time // when the record was produced
	// De-duplication (dedup.go): the event's hash and scope, which of its
	// tables held its offset when it was consumed, whether its claim is to
	// be written, and the original of a copy (table TableDuplicates).
	hash    uint64
	hash2   uint64 // eventHash2, the claim's second hash
	scope   uint32
	inScope bool
	held    uint8
	claim   bool
	dupOf   analytics.Source
	// claimOnly: the record's row is held already, its claim is not (a
	// write whose rows landed and whose claims did not; Write sends them
	// alongside): only the claim is written.
	claimOnly bool
	seen      bool // decide: the hash was in the scope's window before the record, or the scope is not known in full
}

// job is one batch: entries to write and the offsets to commit after.
type job struct {
	entries []entry
	next    map[tp]int64 // offset to commit per partition: last consumed + 1
	// owners holds, per partition, the ownership its records were read
	// under (the state its assignment created): a partition lost and
	// assigned again meanwhile has a new one, and its records here are not
	// to be written (ownerChanges).
	owners  map[tp]*partState
	bytes   int
	started time.Time
	// probed: the job's records were probed against the dedup windows,
	// each scope's in the window probeWins names (decide probes again the
	// records of a scope whose window is no longer that one); ahead: by
	// probeAhead, while the job before was written.
	probed    bool
	ahead     bool
	probeWins map[scopeKey]*idWindow
}

func newJob() *job { return &job{next: make(map[tp]int64), owners: make(map[tp]*partState)} }

// reuseJob returns an emptied job the flusher is done with, or a new one.
// There are at most three jobs: one filling, one taken ahead by the flusher,
// one being written.
func (s *Sink) reuseJob() *job {
	select {
	case j := <-s.free:
		clear(j.entries)
		j.entries = j.entries[:0]
		clear(j.next)
		clear(j.owners)
		j.bytes = 0
		j.probed, j.ahead = false, false
		clear(j.probeWins)
		return j
	default:
		// Every job in use (the flusher is behind): a new one, sized for a
		// full batch (or the last one handed off, if larger) and a poll's
		// worth more, so that its entries do not grow by copying.
		j := newJob()
		j.entries = make([]entry, 0, max(s.lastRows, s.cfg.batchRows)+s.cfg.batchRows/8)
		return j
	}
}

// release hands a written job back for reuse.
func (s *Sink) release(j *job) {
	select {
	case s.free <- j:
	default:
	}
}

func (j *job) rows() int { return len(j.entries) }

func (j *job) empty() bool { return len(j.entries) == 0 && len(j.next) == 0 }

func (j *job) ready(cfg config) bool {
	if j.empty() {
		return false
	}
	return len(j.entries) >= cfg.batchRows || j.bytes >= cfg.batchBytes ||
		time.Since(j.started) >= cfg.batchInterval
}

// tableFor maps a decoded record to its table, checking it belongs on the
// topic it came from. Orders and their status changes are accepted on either
// order lane.
func (s *Sink) tableFor(topic string, r schemas.Record) (analytics.Table, string) {
	k := r.Kind()
	t := s.cfg.topics
	lane := topic == t.Route(r) || topic == t.For(k) ||
		((k == schemas.KindOrder || k == schemas.KindOrderStatus) && topic == t.OrdersPriority && topic != "")
	if !lane {
		return "", "record of kind " + string(k) + " does not belong on topic " + topic
	}
	switch k {
	case schemas.KindOrder:
		return analytics.TableOrders, ""
	case schemas.KindOrderStatus:
		return analytics.TableOrderStatus, ""
	case schemas.KindUserEvent:
		return analytics.TableUserEvents, ""
	case schemas.KindCoupon:
		return analytics.TableCoupons, ""
	}
	return "", "unknown record kind " + string(k)
}

// decoded is a record's decoding result: its table and record, or the
// reason it is rejected.
type decoded struct {
	table   analytics.Table
	rec     schemas.Record
	reason  string
	control bool // a transaction marker: no row, only a position
	hash    uint64
	hash2   uint64
	scope   uint32
	inScope bool
}

// decode decodes and routes one record. It touches no sink state, so polled
// records are decoded in parallel.
func (s *Sink) decode(r *kgo.Record) decoded {
	if r.Attrs.IsControl() {
		return decoded{control: true}
	}
	if len(r.Value) == 0 {
		return decoded{table: analytics.TableSinkRejects, reason: "empty record value"}
	}
	rec, err := schemas.Decode(r.Value)
	if err != nil {
		return decoded{table: analytics.TableSinkRejects, reason: err.Error()}
	}
	t, why := s.tableFor(r.Topic, rec)
	if why != "" {
		return decoded{table: analytics.TableSinkRejects, reason: why}
	}
	d := decoded{table: t, rec: rec}
	l := s.layoutOf(r.Topic)
	uh := control.Murmur2(rec.Key())
	if why := keyCheck(l, r, rec, uh); why != "" {
		s.mismatches.record(r, rec, l, why)
	}
	if s.dedup != nil {
		// Both hashes here, where records are decoded in parallel, not in
		// the flusher.
		d.hash, d.hash2 = eventHash(rec.Kind(), rec.ID()), eventHash2(rec.Kind(), rec.ID())
		d.scope, d.inScope = dedupScope(l, r.Partition, uh)
	}
	return d
}

// decodeAll decodes recs into out (same length), spreading the work over
// the available cores when there is enough of it.
func (s *Sink) decodeAll(recs []*kgo.Record, out []decoded) {
	const chunk = 1024
	workers := min(runtime.GOMAXPROCS(0), (len(recs)+chunk-1)/chunk)
	if workers <= 1 {
		for i, r := range recs {
			out[i] = s.decode(r)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() { // ends when every chunk is taken
			defer wg.Done()
			for {
				lo := int(next.Add(chunk)) - chunk
				if lo >= len(recs) {
					return
				}
				for i := lo; i < min(lo+chunk, len(recs)); i++ {
					out[i] = s.decode(recs[i])
				}
			}
		}()
	}
	wg.Wait()
}

// addLocked adds one decoded record to the current job. Caller holds s.mu.
func (s *Sink) addLocked(r *kgo.Record, d decoded) {
	key := tp{r.Topic, r.Partition}
	s.ownMu.RLock()
	ps := s.parts[key]
	s.ownMu.RUnlock()
	if ps == nil {
		return // revoked or lost while this poll was in flight; the new owner reads it
	}
	j := s.cur
	if j.empty() {
		j.started = time.Now()
	}
	if ps.first.Load() < 0 {
		ps.first.Store(r.Offset)
	}
	if owner, ok := j.owners[key]; ok && owner != ps {
		// Lost and assigned again since this job began: what it holds of
		// the partition was read under the old ownership.
		j.dropLost(func(k tp) bool { return k == key })
	}
	j.owners[key] = ps
	j.next[key] = r.Offset + 1
	if d.control {
		return // committed past with the job; nothing to write
	}
	var held uint8
	if s.dedup != nil && d.rec != nil {
		// Whether this copy is the original is decided by the flusher
		// (dedup.go), which then drops it if its table holds it.
		held = ps.heldMask(d.table, r.Offset)
	} else if ps.holds(d.table, r.Offset) {
		s.replayed()
		return
	}
	e := entry{
		src:     analytics.Source{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset},
		table:   d.table,
		rec:     d.rec,
		reason:  d.reason,
		key:     r.Key,
		ts:      r.Timestamp,
		hash:    d.hash,
		hash2:   d.hash2,
		scope:   d.scope,
		inScope: d.inScope,
		held:    held,
	}
	if d.rec == nil {
		e.raw = r.Value
	}
	j.entries = append(j.entries, e)
	j.bytes += len(r.Value)
}

// handoffLocked queues the current job for the flusher and starts a new one.
// It blocks while the flusher is busy with a previous job. Caller holds s.mu.
func (s *Sink) handoffLocked() {
	if s.cur.empty() {
		return
	}
	s.pending.Add(1)
	s.lastRows = len(s.cur.entries)
	s.jobs <- s.cur
	s.cur = s.reuseJob()
}

// handoffCtxLocked is handoffLocked that gives up when ctx is done first
// (the job stays current), reporting whether it handed the job off. It
// blocks while the flusher is busy: backpressure. Caller holds s.mu.
func (s *Sink) handoffCtxLocked(ctx context.Context) bool {
	if s.cur.empty() {
		return true
	}
	s.pending.Add(1)
	rows := len(s.cur.entries)
	select {
	case s.jobs <- s.cur:
		s.lastRows = rows
		s.cur = s.reuseJob()
		return true
	case <-ctx.Done():
		s.pending.Done()
		return false
	}
}

// onAssigned reads the watermarks of newly assigned partitions before any of
// their records is fetched.
func (s *Sink) onAssigned(ctx context.Context, cl *kgo.Client, assigned map[string][]int32) {
	defer func() { // after the partitions are owned, before kgo fetches them
		if g := s.gate.Load(); g != nil {
			g.Assigned(ctx, cl, assigned)
		}
		s.assignedChecks(ctx, assigned)
	}()
	log := s.cfg.logger.With("group", s.cfg.group)
	member, _ := cl.GroupMetadata()
	kept, rejoined := s.rejoined(member, assigned)
	if rejoined {
		log.Warn("rejoined the group as a new member after being removed from it; partitions kept from before are read again from their committed offsets",
			"kept", fmtParts(kept))
	}
	if len(kept) > 0 {
		// Partitions the group left this instance that another member may
		// have written in between (it was removed and joined again), or
		// whose batch it dropped: they are taken like new ones (rejoin.go).
		if resume := s.pauseFetch(cl, kept); len(resume) > 0 {
			defer cl.ResumeFetchPartitions(resume)
		}
		s.forget(kept)
	}
	all := make(map[string][]int32)
	for _, m := range []map[string][]int32{assigned, kept} {
		for t, ps := range m {
			all[t] = append(all[t], ps...)
		}
	}
	backoff := newBackoff(s.cfg.retryMax)
	for {
		states, err := s.loadWatermarks(ctx, all, member)
		if err == nil && len(kept) > 0 {
			err = s.rewind(ctx, cl, kept, states)
		}
		if err == nil {
			s.ownMu.Lock()
			for k, ps := range states {
				s.parts[k] = ps
				s.assigned[k] = true
				delete(s.lost, k)
			}
			s.member = member
			s.ownMu.Unlock()
			log.Info("partitions assigned", "partitions", fmtParts(assigned))
			return
		}
		if ctx.Err() != nil {
			return
		}
		log.Warn("read ClickHouse watermarks for assigned partitions; retrying", "err", err)
		backoff.wait(ctx)
	}
}

func (s *Sink) loadWatermarks(ctx context.Context, assigned map[string][]int32, member string) (map[tp]*partState, error) {
	// A batch another instance (or a killed one) has in flight must be fully
	// visible or gone before the watermarks mean anything.
	if err := s.waitForInserts(ctx, s.groupQueryPrefix()); err != nil {
		return nil, err
	}
	out := make(map[tp]*partState)
	for topic, parts := range assigned {
		pos, err := s.ch.Positions(ctx, topic)
		if err != nil {
			return nil, err
		}
		for _, p := range parts {
			ps := &partState{floors: make(map[analytics.Table]int64), maxFloor: -1, member: member}
			ps.first.Store(-1)
			for table, byPart := range pos {
				if at, ok := byPart[p]; ok && at.Offset >= 0 {
					ps.floors[table] = at.Offset
					ps.maxFloor = max(ps.maxFloor, at.Offset)
				}
			}
			out[tp{topic, p}] = ps
		}
		s.setPositions(topic, parts, pos)
	}
	return out, nil
}

// onRevoked writes and commits everything consumed from the revoked
// partitions before the group hands them to another member.
func (s *Sink) onRevoked(_ context.Context, cl *kgo.Client, revoked map[string][]int32) {
	if g := s.gate.Load(); g != nil {
		g.Revoked(cl, revoked)
	}
	s.ownMu.Lock()
	for t, ps := range revoked {
		for _, p := range ps {
			delete(s.parts, tp{t, p})
			delete(s.assigned, tp{t, p})
		}
	}
	s.ownMu.Unlock()
	s.mu.Lock()
	s.handoffLocked()
	s.mu.Unlock()
	s.pending.Wait()
	s.dedup.invalidate(s, nil)
	s.dropPositions(revoked)
	if len(revoked) > 0 {
		s.cfg.logger.Info("partitions revoked", "group", s.cfg.group, "partitions", fmtParts(revoked))
	}
}

// onLost drops what was consumed from partitions this member no longer owns:
// another member may already be writing them.
func (s *Sink) onLost(_ context.Context, cl *kgo.Client, lost map[string][]int32) {
	if g := s.gate.Load(); g != nil {
		g.Revoked(cl, lost)
	}
	s.ownMu.Lock()
	for t, ps := range lost {
		for _, p := range ps {
			delete(s.parts, tp{t, p})
			delete(s.assigned, tp{t, p})
			s.lost[tp{t, p}] = true
		}
	}
	s.ownMu.Unlock()
	s.mu.Lock()
	s.cur.dropLost(s.isLost)
	s.mu.Unlock()
	s.dedup.invalidate(s, lost)
	s.cfg.logger.Warn("partitions lost; their unwritten records are left to the new owner",
		"group", s.cfg.group, "partitions", fmtParts(lost))
}

func (s *Sink) isLost(k tp) bool {
	s.ownMu.RLock()
	defer s.ownMu.RUnlock()
	return s.lost[k]
}

// dropLost removes entries and commits of lost partitions.
func (j *job) dropLost(lost func(tp) bool) {
	kept := j.entries[:0]
	for _, e := range j.entries {
		if !lost(tp{e.src.Topic, e.src.Partition}) {
			kept = append(kept, e)
		}
	}
	clear(j.entries[len(kept):])
	j.entries = kept
	for k := range j.next {
		if lost(k) {
			delete(j.next, k)
		}
	}
	for k := range j.owners {
		if lost(k) {
			delete(j.owners, k)
		}
	}
}
