package rules

import (
	"fmt"
	"strings"
)

// undoRef is a user changed in the batch and where its state as it was
// before the batch is in undoBuf: off < 0 means the user had no state,
// except for undoSelf.
type undoRef struct {
	u        *userState
	off, end int32
}

// undoSelf marks the undo record of a user whose first change in the
// batch was its eviction: the dropped state itself is the state before,
// untouched until it is revived (newUser) or the batch ends.
const undoSelf = -2

// Begin starts recording changes: until Commit or Rollback, the partition
// remembers each changed user's state as it was (encoded, in one buffer
// reused from batch to batch), so that an aborted Kafka transaction can be
// undone in memory, and Changes can list what to write to the changelog.
func (p *Partition) Begin() {
	p.tracking = true
	p.batch++
	if p.batch == 0 {
		// The batch numbers wrapped: forget the old marks.
		for _, u := range p.users {
			u.batch = 0
		}
		p.batch = 1
	}
	clear(p.undo)
	p.undo = p.undo[:0]
	p.undoBuf = p.undoBuf[:0]
	p.metaUndo = nil
	p.metaDirty = false
}

// Tracking reports whether changes are being recorded (Begin was called
// and neither Commit nor Rollback since).
func (p *Partition) Tracking() bool { return p.tracking }

// touch records u before its first change in the batch.
func (p *Partition) touch(u *userState) {
	if !p.tracking || u.batch == p.batch {
		return
	}
	u.batch, u.undo = p.batch, int32(len(p.undo))
	off := len(p.undoBuf)
	p.undoBuf = p.encode(p.undoBuf, u)
	p.undo = append(p.undo, undoRef{u: u, off: int32(off), end: int32(len(p.undoBuf))})
}

// evict drops u, whose state expired. When this is u's first change in the
// batch, the dropped state itself is its undo record (undoSelf): encoding
// it is left to newUser, if the user comes back in the same batch.
func (p *Partition) evict(u *userState) {
	if p.tracking && u.batch != p.batch {
		u.batch, u.undo = p.batch, int32(len(p.undo))
		p.undo = append(p.undo, undoRef{u: u, off: undoSelf})
	}
	p.drop(u)
}

// user returns the state of user id, nil if it has none.
func (p *Partition) user(id string) *userState {
	if u := p.users[id]; u != nil && !u.gone {
		return u
	}
	return nil
}

// newUser creates the state of user id, which has none; ghost is what
// p.users holds for id (a user dropped earlier in the batch, or nil). The
// new state has room for n rule states.
func (p *Partition) newUser(id string, ghost *userState, n int) *userState {
	if ghost != nil {
		// Dropped earlier in this batch: its undo record is taken.
		if c := &p.undo[ghost.undo]; c.off == undoSelf {
			off := len(p.undoBuf)
			p.undoBuf = p.encode(p.undoBuf, ghost)
			c.off, c.end = int32(off), int32(len(p.undoBuf))
		}
		ghost.gone, ghost.vip, ghost.exp, ghost.inHeap = false, false, 0, 0
		p.release(ghost)
		p.ghosts--
		return ghost
	}
	var u *userState
	if k := len(p.spare); k > 0 {
		u = p.spare[k-1]
		p.spare[k-1] = nil
		p.spare = p.spare[:k-1]
		*u = userState{id: strings.Clone(id), rules: u.rules[:0]}
	} else {
		u = &userState{id: strings.Clone(id), rules: make([]ruleState, 0, n)}
	}
	p.users[u.id] = u
	if p.tracking {
		u.batch, u.undo = p.batch, int32(len(p.undo))
		p.undo = append(p.undo, undoRef{u: u, off: -1, end: -1})
	}
	return u
}

// drop deletes u's state. While a batch is tracked (u was touched in it)
// u stays in p.users as a ghost until the batch ends.
func (p *Partition) drop(u *userState) {
	u.gone = true
	if p.tracking {
		p.ghosts++
		return
	}
	delete(p.users, u.id)
	p.free(u)
}

func (p *Partition) touchMeta() {
	if p.tracking && p.metaUndo == nil {
		p.metaUndo = p.m.clone()
	}
}

// Changed reports whether anything changed since Begin.
func (p *Partition) Changed() bool { return len(p.undo) > 0 || p.metaUndo != nil }

// Value is a changed state value: AppendTo appends its encoding.
type Value interface{ AppendTo(b []byte) []byte }

// Changes calls emit for every state key changed since Begin with its new
// value, in the order of their first change; a nil value deletes the key
// (a changelog tombstone). The meta record is written when the budget
// spend or a channel's progress changed; a watermark that merely moved on
// (an idle partition's) is derived again after a restore, so a quiet
// partition writes nothing. The values are valid until the next change to
// the partition.
func (p *Partition) Changes(emit func(key string, value Value)) {
	if cap(p.vals) < len(p.undo) {
		p.vals = make([]userValue, len(p.undo))
	}
	vals := p.vals[:len(p.undo)]
	for i, c := range p.undo {
		if c.u.gone {
			if c.off != -1 {
				emit(c.u.id, nil)
			}
			continue
		}
		vals[i] = userValue{p, c.u}
		emit(c.u.id, &vals[i])
	}
	if p.metaDirty {
		emit(MetaKey, p.m)
	}
}

// Commit forgets the undo records: the changes are durable.
func (p *Partition) Commit() {
	for _, c := range p.undo {
		if c.u.gone {
			delete(p.users, c.u.id)
			p.free(c.u)
		}
	}
	p.endBatch()
}

// Rollback restores every state changed since Begin.
func (p *Partition) Rollback() {
	for _, c := range p.undo {
		u := c.u
		if c.off == undoSelf {
			// Evicted, untouched since: it comes back as it is.
			u.gone = false
			p.schedule(u)
			continue
		}
		// The state in hand is dropped (eviction entries that point to it
		// are stale) for the state before, if there was one.
		u.gone = true
		p.free(u)
		if c.off < 0 {
			delete(p.users, u.id)
			continue
		}
		before, err := p.decode(u.id, p.undoBuf[c.off:c.end])
		if err != nil {
			panic(fmt.Sprintf("rules: undo record of %q does not decode: %v", u.id, err)) // written above: a bug
		}
		p.users[u.id] = before
		p.schedule(before)
	}
	if p.metaUndo != nil {
		p.m = p.metaUndo
	}
	p.endBatch()
}

func (p *Partition) endBatch() {
	clear(p.undo)
	p.undo = p.undo[:0]
	p.undoBuf = p.undoBuf[:0]
	p.ghosts = 0
	p.metaUndo = nil
	p.metaDirty = false
	p.tracking = false
}

// schedule (re)arms the timers and the eviction of a restored user.
func (p *Partition) schedule(u *userState) {
	for _, rs := range u.rules {
		if r := p.ruleOf(rs.rid); rs.pending != 0 {
			at := rs.pending
			if r != nil {
				at += r.withinMs
			}
			p.timers.push(timer{at: at, user: u.id, rule: p.names[rs.rid], rid: rs.rid, start: rs.pending})
		}
	}
	u.inHeap = u.exp
	p.expiry.push(expiry{at: u.exp, u: u})
}

// Load applies one changelog record while restoring: key is a user id or
// MetaKey, a nil value deletes. Call Rebuild once all are loaded.
func (p *Partition) Load(key string, value []byte) error {
	if key == MetaKey {
		if value == nil {
			p.m = &meta{spent: map[string]spend{}}
			return nil
		}
		m, err := decodeMeta(value)
		if err != nil {
			return fmt.Errorf("partition %d meta: %w", p.id, err)
		}
		p.m = m
		return nil
	}
	if old := p.users[key]; old != nil {
		old.gone = true
		p.free(old)
	}
	if value == nil {
		delete(p.users, key)
		return nil
	}
	u, err := p.decode(key, value)
	if err != nil {
		return fmt.Errorf("partition %d user %q: %w", p.id, key, err)
	}
	p.users[key] = u
	return nil
}

// Rebuild arms timers and eviction for the loaded state.
func (p *Partition) Rebuild() {
	p.timers, p.expiry = p.timers[:0], p.expiry[:0]
	for _, u := range p.users {
		p.schedule(u)
	}
}
