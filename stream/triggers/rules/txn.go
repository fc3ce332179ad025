package rules

import (
	"container/heap"
	"fmt"
)

// Begin starts recording changes: until Commit or Rollback, the partition
// remembers each changed user's state as it was, so that an aborted Kafka
// transaction can be undone in memory, and Changes can list what to write
// to the changelog.
func (p *Partition) Begin() {
	p.tracking = true
	if p.undo == nil {
		p.undo = make(map[string]*userState)
	}
	clear(p.undo)
	p.metaUndo = nil
	p.metaDirty = false
}

func (p *Partition) touch(user string) {
	if !p.tracking {
		return
	}
	if _, ok := p.undo[user]; ok {
		return
	}
	if u := p.users[user]; u != nil {
		p.undo[user] = u.clone()
	} else {
		p.undo[user] = nil
	}
}

func (p *Partition) touchMeta() {
	if p.tracking && p.metaUndo == nil {
		p.metaUndo = p.m.clone()
	}
}

// Changed reports whether anything changed since Begin.
func (p *Partition) Changed() bool { return len(p.undo) > 0 || p.metaUndo != nil }

// Changes calls emit for every state key changed since Begin with its new
// encoded value; a nil value deletes the key (a changelog tombstone). The
// meta record is written when the budget spend or a channel's progress
// changed; a watermark that merely moved on (an idle partition's) is
// derived again after a restore, so a quiet partition writes nothing.
func (p *Partition) Changes(emit func(key string, value []byte)) {
	for user, before := range p.undo {
		u := p.users[user]
		if u == nil {
			if before != nil {
				emit(user, nil)
			}
			continue
		}
		emit(user, u.encode(make([]byte, 0, 64)))
	}
	if p.metaDirty {
		emit(MetaKey, p.m.encode(nil))
	}
}

// Commit forgets the undo records: the changes are durable.
func (p *Partition) Commit() {
	clear(p.undo)
	p.metaUndo = nil
	p.metaDirty = false
	p.tracking = false
}

// Rollback restores every state changed since Begin.
func (p *Partition) Rollback() {
	for user, before := range p.undo {
		if before == nil {
			delete(p.users, user)
			continue
		}
		p.users[user] = before
		p.schedule(user, before)
	}
	clear(p.undo)
	if p.metaUndo != nil {
		p.m = p.metaUndo
		p.metaUndo = nil
	}
	p.metaDirty = false
	p.tracking = false
}

// schedule (re)arms the timers and the eviction of a restored user.
func (p *Partition) schedule(user string, u *userState) {
	for _, rs := range u.rules {
		if r := p.set.byID[rs.rule]; rs.pending != 0 {
			at := rs.pending
			if r != nil {
				at += r.Within.Milliseconds()
			}
			heap.Push(&p.timers, timer{at: at, user: user, rule: rs.rule, start: rs.pending})
		}
	}
	u.inHeap = u.exp
	heap.Push(&p.evict, expiry{at: u.exp, user: user})
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
	u, err := decodeUser(value)
	if err != nil {
		return fmt.Errorf("partition %d user %q: %w", p.id, key, err)
	}
	p.users[key] = u
	return nil
}

// Rebuild arms timers and eviction for the loaded state.
func (p *Partition) Rebuild() {
	p.timers, p.evict = p.timers[:0], p.evict[:0]
	for user, u := range p.users {
		p.schedule(user, u)
	}
}
