package sink

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream/control"
)

// DefaultDedupWindow is how long after an event is stored a copy of it is
// still dropped, unless WithDedupWindow says otherwise.
const DefaultDedupWindow = 24 * time.Hour

// WithDedupWindow sets the event_id de-duplication window, overriding
// DefaultDedupWindow; 0 turns de-duplication off (every record is stored,
// as before the sink deduplicated). See the package doc, "Each event
// counted once".
func WithDedupWindow(d time.Duration) Opt { return func(cfg *config) { cfg.dedupWindow = d } }

// scopeKey names a dedup scope: the events of the users whose key hashes
// (murmur2) to partition scope of topic under its base partition count.
// A resize moves a key from p only to p + k*base, so every copy of an
// event produced by a murmur2 producer lands in its scope, before and
// after any resize.
type scopeKey struct {
	topic string
	scope uint32
}

// dedup is the sink's in-memory knowledge of the event ids stored within
// the window, per scope of the partitions it owns. The flusher decides,
// one job at a time; the group callbacks invalidate scopes under mu.
type dedup struct {
	window time.Duration
	mu     sync.Mutex
	scopes map[scopeKey]*idWindow // loaded scopes; a missing one is loaded on first use
	expire time.Time              // next time to drop expired hours
	prune  time.Time              // next time to drop old days of the claims
	inJob  hashIndex              // decideOnce's scratch, reused
	origs  []int32                // likewise
	seen   []int32                // likewise
}

func newDedup(window time.Duration) *dedup {
	if window <= 0 {
		return nil
	}
	return &dedup{window: window, scopes: make(map[scopeKey]*idWindow)}
}

// eventHash is the 64-bit hash of an event's kind and id that the claims
// are keyed by.
func eventHash(kind schemas.Kind, id string) uint64 {
	var b [64]byte
	k := append(append(append(b[:0], kind...), 0), id...)
	return xxhash.Sum64(k)
}

// eventHash2 is the second 64-bit hash a claim names its event by, of its
// kind and id, prefixed so that it is unrelated to eventHash: two different
// events match only if both hashes collide.
func eventHash2(kind schemas.Kind, id string) uint64 {
	var b [64]byte
	k := append(append(append(append(b[:0], 0xff, 's', 0), kind...), 0), id...)
	return xxhash.Sum64(k)
}

// legacyHash2 is eventHash2 of a claim in sink_event_ids (before sink_claims), which kept
// the event_id but not the kind: the kind is the one whose eventHash is the
// claim's (0 if none is).
func legacyHash2(hash uint64, id string) uint64 {
	for _, k := range []schemas.Kind{schemas.KindUserEvent, schemas.KindOrder, schemas.KindOrderStatus, schemas.KindCoupon} {
		if eventHash(k, id) == hash {
			return eventHash2(k, id)
		}
	}
	return 0
}

// dedupScope returns a record's scope under layout l, given the Murmur2
// of its user id, and whether the partition it arrived on is in that scope
// (false for a record a producer partitioned otherwise than by murmur2 of
// its user id, or when the topic's layout is unknown).
func dedupScope(l topicLayout, partition int32, userHash uint32) (uint32, bool) {
	if l.base <= 0 {
		return 0, false
	}
	sc := control.PartitionOf(userHash, l.base)
	return uint32(sc), partition%l.base == sc
}

// invalidate forgets the scopes of partitions just assigned (another
// instance may have stored events in them since this one loaded them) and
// the scopes no owned partition belongs to any more. They are loaded again
// on first use, after the resize gate released the partition.
func (d *dedup) invalidate(s *Sink, assigned map[string][]int32) {
	if d == nil {
		return
	}
	owned := map[scopeKey]bool{}
	s.ownMu.RLock()
	for k := range s.parts {
		if l := s.layoutOf(k.topic); l.base > 0 {
			owned[scopeKey{k.topic, uint32(k.partition % l.base)}] = true
		}
	}
	s.ownMu.RUnlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	for t, ps := range assigned {
		l := s.layoutOf(t)
		for _, p := range ps {
			if l.base > 0 {
				delete(d.scopes, scopeKey{t, uint32(p % l.base)})
			}
		}
	}
	for k := range d.scopes {
		if !owned[k] {
			delete(d.scopes, k)
		}
	}
}

// held bits: which of a record's possible tables already hold its offset
// (set when the record is consumed, from the partition's watermarks).
const (
	heldRow   uint8 = 1 << iota // its data table
	heldDup                     // sink_duplicates
	heldClaim                   // sink_dedup_claims
)

// decide runs the dedup decision for every record of j, in offset order
// per partition: it marks originals (their claim is written with the
// batch, alongside their row) and turns copies into sink_duplicates rows, then
// drops what ClickHouse already holds. The decision depends only on the
// claims stored and the records before it, so a batch decided again after
// a crash drops the same copies. It retries ClickHouse until ctx is done.
func (s *Sink) decide(ctx context.Context, j *job) error {
	d := s.dedup
	if d == nil {
		return nil
	}
	if now := time.Now(); now.After(d.prune) {
		// Claims are read only within the window: days wholly older are
		// dropped (a metadata operation), at most once an hour.
		d.prune = now.Add(time.Hour)
		if n, err := s.ch.DropEventIDsBefore(ctx, now.Add(-d.window)); err != nil {
			s.cfg.logger.Warn("dedup: drop old days of the claims failed; retrying in an hour", "err", err)
		} else if n > 0 {
			s.cfg.logger.Info("dedup: dropped days of claims older than the window", "days", n)
		}
	}
	backoff := newBackoff(s.cfg.retryMax)
	for {
		err := s.decideOnce(ctx, j)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.cfg.logger.Warn("dedup: read claims from ClickHouse failed; retrying", "err", err)
		backoff.wait(ctx)
	}
}

func (s *Sink) decideOnce(ctx context.Context, j *job) error {
	d := s.dedup
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	since := now.Add(-d.window)
	if now.After(d.expire) {
		// A sweep copies a scope's live ids into a fresh set, and every
		// scope's bucket ends at once: one scope per batch, so that no
		// batch waits for all of them (an id kept a little past the window
		// costs at most an exact lookup, which the window's bound answers).
		d.expire = now.Add(time.Minute)
		for _, w := range d.scopes {
			if w.expire(now) {
				d.expire = now
				break
			}
		}
	}
	// Pass 1: load the scopes used that are not loaded (one query), then
	// probe the records (probe): those whose hash was seen in the window
	// (or whose scope this instance cannot know in full) have their claims
	// read exactly.
	if j.ahead {
		j.ahead = false
		s.addStats(func(st *Stats) { st.ProbedAhead++ })
	}
	missing := d.missingScopes(j)
	for t, ss := range missing {
		for _, sc := range ss {
			d.scopes[scopeKey{t, sc}] = newIDWindow(d.window)
		}
	}
	if missing != nil {
		err := s.ch.LoadEventIDs(ctx, missing, since, func(topic string, scope uint32, h uint64, at time.Time) {
			if w := d.scopes[scopeKey{topic, scope}]; w != nil {
				w.add(h, at)
			}
		})
		if err != nil {
			for t, ss := range missing {
				for _, sc := range ss {
					delete(d.scopes, scopeKey{t, sc})
				}
			}
			return err
		}
		for _, ss := range missing {
			s.metrics.dedupLoads.Add(float64(len(ss)))
		}
	}
	verify := map[string]map[uint32][]uint64{}
	seen, fresh := d.probe(j, now, d.seen[:0])
	defer func() { d.seen = seen }()
	// A record seen only because a record new to the window earlier in the
	// job has its event (a copy within the batch) needs no lookup: that
	// one is an original, and pass 2 finds it. The others are checked
	// against the claims.
	inJob := &d.inJob
	if len(seen) > 0 && fresh > 0 {
		inJob.reset(len(j.entries))
		for i := range j.entries {
			if e := &j.entries[i]; e.rec != nil && !e.seen {
				inJob.put(e.hash, i)
			}
		}
	}
	lookups := 0
	for _, i := range seen {
		e := &j.entries[i]
		k := scopeKey{e.src.Topic, e.scope}
		if fresh > 0 {
			if o, hit := inJob.get(e.hash); hit && o < int(i) && sameEvent(&j.entries[o], e) {
				continue
			}
		}
		if verify[k.topic] == nil {
			verify[k.topic] = map[uint32][]uint64{}
		}
		verify[k.topic][k.scope] = append(verify[k.topic][k.scope], e.hash)
		lookups++
	}
	s.metrics.dedupLookups.Add(float64(lookups))
	// A claim names its event by two hashes (one in claims written before
	// sink_claims, in sink_event_ids, which keep the event_id: the second
	// is computed).
	type idKey struct {
		scopeKey
		hash, hash2 uint64
	}
	stored := map[idKey]analytics.Source{}
	for topic, keys := range verify {
		claims, err := s.ch.LookupEventIDs(ctx, topic, keys, since)
		if err != nil {
			return err // the retry keeps this probe (j.probeWins)
		}
		for _, c := range claims {
			h2 := c.Hash2
			if c.EventID != "" {
				h2 = legacyHash2(c.Hash, c.EventID)
			}
			k := idKey{scopeKey{topic, c.Scope}, c.Hash, h2}
			if prev, ok := stored[k]; !ok || less(c.Src, prev) {
				stored[k] = c.Src
			}
		}
	}
	// Pass 2: decide in order. A copy of an original earlier in the job is
	// found through inJob, which maps the hashes of the job's new originals
	// to their index in kept (compared exactly on a match). It is built
	// only when a record may be such a copy: one whose hash was in its
	// scope's window before it (or one the window cannot tell about); until
	// then origs lists those originals.
	indexed := false
	origs := d.origs[:0]
	inJobCopy := func(e *entry, kept []entry) (analytics.Source, bool) {
		if !indexed {
			inJob.reset(len(j.entries))
			for _, i := range origs {
				inJob.put(kept[i].hash, int(i))
			}
			indexed = true
		}
		if i, hit := inJob.get(e.hash); hit && sameEvent(&kept[i], e) {
			return kept[i].src, true
		}
		return analytics.Source{}, false
	}
	// Entries are decided in place and the kept ones moved down only when
	// some before them were dropped: an entry is a few hundred bytes.
	n := 0 // entries kept so far: j.entries[:n]
	keep := func(i int) {
		if n != i {
			j.entries[n] = j.entries[i]
		}
		n++
	}
	for i := range j.entries {
		e := &j.entries[i]
		if e.rec == nil {
			keep(i)
			continue
		}
		sk := scopeKey{e.src.Topic, e.scope}
		orig, ok := analytics.Source{}, false
		if len(stored) > 0 {
			orig, ok = stored[idKey{sk, e.hash, e.hash2}]
		}
		if !ok && e.seen {
			orig, ok = inJobCopy(e, j.entries[:n])
		}
		switch {
		case ok && orig != e.src: // a copy
			if e.held&heldDup != 0 {
				s.replayed()
				continue
			}
			e.dupOf, e.table, e.claim = orig, analytics.TableDuplicates, false
		default: // the original: stored, or new
			e.claim = !ok && e.held&heldClaim == 0
			if e.held&heldRow != 0 {
				s.replayed()
				if !e.claim {
					continue
				}
				// Its row landed in a write whose claims did not: the
				// claim is written now, the row not again.
				e.claimOnly = true
			}
			if !ok {
				origs = append(origs, int32(n))
				if indexed {
					inJob.put(e.hash, n)
				}
			}
		}
		keep(i)
	}
	d.origs = origs
	clear(j.entries[n:])
	j.entries = j.entries[:n]
	// Decided: the probe's windows are not needed again, and must not keep
	// a window dropped meanwhile alive while the job waits for reuse.
	clear(j.probeWins)
	j.probed = false
	return nil
}

// missingScopes returns the scopes (topic -> scopes) of j's records in
// their scope that are not loaded, nil when all are. Caller holds d.mu.
func (d *dedup) missingScopes(j *job) map[string][]uint32 {
	var missing map[string][]uint32
	var last scopeKey
	for i := range j.entries {
		e := &j.entries[i]
		if e.rec == nil || !e.inScope {
			continue
		}
		k := scopeKey{e.src.Topic, e.scope}
		if i > 0 && k == last {
			continue // records come partition by partition
		}
		last = k
		if d.scopes[k] == nil && !slices.Contains(missing[k.topic], k.scope) {
			if missing == nil {
				missing = map[string][]uint32{}
			}
			missing[k.topic] = append(missing[k.topic], k.scope)
		}
	}
	return missing
}

// probe adds the hashes of j's records to their scopes' windows
// (probeEntry) in the order of the records: in one pass that also tells
// whether each was there (the window or an earlier record of the job), not
// a test and a later add over a set far larger than the caches. A hash
// added for a record that turns out to be a copy only keeps the id in
// memory a little longer, which costs at most an exact lookup. The records
// of a scope probed already (by probeAhead, or an attempt of decide that
// failed) in the window the scope has now are not probed again; those of a
// scope dropped or reloaded since are. It appends to seen the records with
// entry.seen set and counts the others. Caller holds d.mu.
func (d *dedup) probe(j *job, now time.Time, seen []int32) (_ []int32, fresh int) {
	if j.probeWins == nil {
		j.probeWins = map[scopeKey]*idWindow{}
	}
	redo := map[scopeKey]bool{}
	var (
		last    scopeKey
		started bool // last is set
		w       *idWindow
		again   bool // probe last's records
	)
	for i := range j.entries {
		e := &j.entries[i]
		if e.rec == nil {
			continue
		}
		// Records come partition by partition, so mostly scope by scope.
		if k := (scopeKey{e.src.Topic, e.scope}); !started || k != last {
			last, started, w = k, true, d.scopes[k]
			r, ok := redo[k]
			if !ok {
				pw, had := j.probeWins[k]
				r = !j.probed || !had || pw != w
				redo[k] = r
				j.probeWins[k] = w
			}
			again = r
		}
		if again {
			probeEntry(e, w, now)
		}
		if e.seen {
			seen = append(seen, int32(i))
		} else {
			fresh++
		}
	}
	j.probed = true
	return seen, fresh
}

// sameEvent reports whether a and b (whose hashes match) are the same event
// in the same dedup scope.
func sameEvent(a, b *entry) bool {
	return a.src.Topic == b.src.Topic && a.scope == b.scope && a.rec.ID() == b.rec.ID()
}

// probeEntry adds e's hash to w, its scope's window (nil when the scope is
// not loaded), and sets e.seen: for a record in its scope, whether the hash
// was there; a record outside its scope is always checked against the
// claims. Its hash is added all the same, so that a copy of it later in
// the job, in its scope, is found.
func probeEntry(e *entry, w *idWindow, now time.Time) {
	if e.inScope {
		e.seen = w.addNew(e.hash, now)
		return
	}
	e.seen = true
	if w != nil {
		w.add(e.hash, now)
	}
}

func (s *Sink) replayed() {
	s.addStats(func(st *Stats) { st.Replayed++ })
	s.metrics.replayed.Inc()
}

// less orders sources: the earliest claim of an event wins when (rarely:
// copies on partitions of different scopes stored at once) there are two.
func less(a, b analytics.Source) bool {
	if a.Topic != b.Topic {
		return a.Topic < b.Topic
	}
	if a.Partition != b.Partition {
		return a.Partition < b.Partition
	}
	return a.Offset < b.Offset
}

// dedupStats returns the ids and bytes the loaded scopes hold.
func (d *dedup) stats() (scopes, ids, bytes int) {
	if d == nil {
		return 0, 0, 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, w := range d.scopes {
		n, b := w.stats()
		ids += n
		bytes += b
	}
	return len(d.scopes), ids, bytes
}
