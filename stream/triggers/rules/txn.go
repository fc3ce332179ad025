package rules

import (
	"fmt"
)

// undoRef locates a user's state as it was before the batch in undoBuf;
// off < 0 means the user had no state.
type undoRef struct{ off, end int32 }

// Begin starts recording changes: until Commit or Rollback, the partition
// remembers each changed user's state as it was (encoded, in one buffer
// reused from batch to batch), so that an aborted Kafka transaction can be
// undone in memory, and Changes can list what to write to the changelog.
func (p *Partition) Begin() {
	p.tracking = true
	if p.undo == nil {
		p.undo = make(map[string]undoRef)
	}
	clear(p.undo)
	p.undoBuf = p.undoBuf[:0]
	p.metaUndo = nil
	p.metaDirty = false
}

// Tracking reports whether changes are being recorded (Begin was called
// and neither Commit nor Rollback since).
func (p *Partition) Tracking() bool { return p.tracking }

// touch records u before its first change in the batch.
func (p *Partition) touch(u *userState) {
	if !p.tracking {
		return
	}
	if _, ok := p.undo[u.id]; ok {
		return
	}
	off := len(p.undoBuf)
	p.undoBuf = u.encode(p.undoBuf)
	p.undo[u.id] = undoRef{int32(off), int32(len(p.undoBuf))}
}

// touchNew records that user had no state before the batch (unless it had
// some earlier in the batch).
func (p *Partition) touchNew(user string) {
	if !p.tracking {
		return
	}
	if _, ok := p.undo[user]; !ok {
		p.undo[user] = undoRef{-1, -1}
	}
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
// value; a nil value deletes the key (a changelog tombstone). The meta
// record is written when the budget spend or a channel's progress changed;
// a watermark that merely moved on (an idle partition's) is derived again
// after a restore, so a quiet partition writes nothing. The values are
// valid until the next change to the partition.
func (p *Partition) Changes(emit func(key string, value Value)) {
	for user, before := range p.undo {
		u := p.users[user]
		if u == nil {
			if before.off >= 0 {
				emit(user, nil)
			}
			continue
		}
		emit(user, u)
	}
	if p.metaDirty {
		emit(MetaKey, p.m)
	}
}

// Commit forgets the undo records: the changes are durable.
func (p *Partition) Commit() {
	clear(p.undo)
	p.undoBuf = p.undoBuf[:0]
	p.metaUndo = nil
	p.metaDirty = false
	p.tracking = false
}

// Rollback restores every state changed since Begin.
func (p *Partition) Rollback() {
	for user, before := range p.undo {
		if before.off < 0 {
			delete(p.users, user)
			continue
		}
		u, err := decodeUser(user, p.undoBuf[before.off:before.end])
		if err != nil {
			panic(fmt.Sprintf("rules: undo record of %q does not decode: %v", user, err)) // written above: a bug
		}
		p.users[user] = u
		p.schedule(u)
	}
	clear(p.undo)
	p.undoBuf = p.undoBuf[:0]
	if p.metaUndo != nil {
		p.m = p.metaUndo
		p.metaUndo = nil
	}
	p.metaDirty = false
	p.tracking = false
}

// schedule (re)arms the timers and the eviction of a restored user.
func (p *Partition) schedule(u *userState) {
	for _, rs := range u.rules {
		if r := p.set.byID[rs.rule]; rs.pending != 0 {
			at := rs.pending
			if r != nil {
				at += r.Within.Milliseconds()
			}
			p.timers.push(timer{at: at, user: u.id, rule: rs.rule, start: rs.pending})
		}
	}
	u.inHeap = u.exp
	p.evict.push(expiry{at: u.exp, user: u.id})
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
	if value == nil {
		delete(p.users, key)
		return nil
	}
	u, err := decodeUser(key, value)
	if err != nil {
		return fmt.Errorf("partition %d user %q: %w", p.id, key, err)
	}
	p.users[key] = u
	return nil
}

// Rebuild arms timers and eviction for the loaded state.
func (p *Partition) Rebuild() {
	p.timers, p.evict = p.timers[:0], p.evict[:0]
	for _, u := range p.users {
		p.schedule(u)
	}
}
