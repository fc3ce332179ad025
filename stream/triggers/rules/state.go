package rules

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// userState is everything the engine remembers about one user.
type userState struct {
	id    string      // the user id, the key in Partition.users
	rules []ruleState // only rules with something to remember
	// exp is when the whole state may be dropped (event time, Unix ms):
	// the latest expiry of its rule states.
	exp int64
	// inHeap is the expiry the eviction heap holds for this user, 0 if none.
	inHeap int64
	// undo is the index in Partition.undo of the user's undo record,
	// taken in batch (a Partition.batch; 0: none yet).
	undo  int32
	batch uint16
	vip   bool
	// seen holds the events that changed this state and are not older than
	// the watermark: a copy of one of them (same event id) is dropped, and
	// one older than the watermark is late anyway (see Process).
	seen []seenEvent
	// gone marks a dropped state: entries of the eviction heap that still
	// point to it are stale. While a batch is tracked a dropped user stays
	// in Partition.users as a ghost until the batch ends, so that a new
	// state of the user in the same batch reuses it and its undo record.
	gone bool
}

// ruleState is one user's progress on one rule. It holds no pointers:
// its rule is an interned id (Partition.names) and its window entries are
// in the partition's windows.
type ruleState struct {
	total   int64  // sum over the campaign window
	pending int64  // absence: time of the event that started the timer, 0 if none
	exp     int64  // when this rule state may be dropped
	ts      window // count and windowed sum: event times, ascending
	amts    window // windowed sum: amounts, parallel to ts
	rid     uint32 // the rule's id, interned
	issued  uint32 // coupons issued to the user by the rule in its campaign
	seen    bool   // first: the first event happened
}

func (u *userState) rule(rid uint32) *ruleState {
	for i := range u.rules {
		if u.rules[i].rid == rid {
			return &u.rules[i]
		}
	}
	return nil
}

func (u *userState) ruleOrNew(rid uint32) *ruleState {
	if rs := u.rule(rid); rs != nil {
		return rs
	}
	u.rules = append(u.rules, ruleState{rid: rid})
	return &u.rules[len(u.rules)-1]
}

// release empties u's rule states, freeing their window entries, and
// forgets its seen events.
func (p *Partition) release(u *userState) {
	for i := range u.rules {
		p.win.release(&u.rules[i].ts)
		p.win.release(&u.rules[i].amts)
	}
	clear(u.rules)
	u.rules = u.rules[:0]
	u.seen = u.seen[:0]
}

// maxSpare bounds the dropped user states a partition keeps for reuse.
const maxSpare = 1 << 14

// free releases u, whose state is dropped for good (it is gone and no
// longer in p.users), and keeps it for reuse by newUser. Eviction heap
// entries may still point to it: while spare it is gone, and once reused
// an entry is taken only if its time is the new user's inHeap, when the
// new user has an entry of the same time of its own, so the check is the
// one that entry makes.
func (p *Partition) free(u *userState) {
	p.release(u)
	if len(p.spare) < maxSpare {
		p.spare = append(p.spare, u)
	}
}

// userValue is a user's state to encode (Changes).
type userValue struct {
	p *Partition
	u *userState
}

// AppendTo appends the binary form of the user's state to b.
func (v *userValue) AppendTo(b []byte) []byte { return v.p.encode(b, v.u) }

// stateVersion is the meta record's encoding version; userStateVersion the
// user state's (2 added the seen events; 1 is still read).
const (
	stateVersion     = 1
	userStateVersion = 2
)

// encode appends the binary form of u to b: compact varints, rule ids as
// strings so that a changed rules file still finds its state.
func (p *Partition) encode(b []byte, u *userState) []byte {
	b = append(b, userStateVersion)
	flags := byte(0)
	if u.vip {
		flags = 1
	}
	b = append(b, flags)
	b = binary.AppendVarint(b, u.exp)
	b = binary.AppendUvarint(b, uint64(len(u.rules)))
	for i := range u.rules {
		rs := &u.rules[i]
		id := p.names[rs.rid]
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
		b = binary.AppendUvarint(b, uint64(rs.issued))
		seen := byte(0)
		if rs.seen {
			seen = 1
		}
		b = append(b, seen)
		b = binary.AppendVarint(b, rs.total)
		b = binary.AppendVarint(b, rs.pending)
		b = binary.AppendVarint(b, rs.exp)
		ts := p.win.view(rs.ts)
		b = binary.AppendUvarint(b, uint64(len(ts)))
		prev := int64(0)
		for _, t := range ts {
			b = binary.AppendVarint(b, t-prev)
			prev = t
		}
		amts := p.win.view(rs.amts)
		b = binary.AppendUvarint(b, uint64(len(amts)))
		for _, a := range amts {
			b = binary.AppendVarint(b, a)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(u.seen)))
	for _, s := range u.seen {
		b = binary.LittleEndian.AppendUint64(b, s.hash)
		b = binary.AppendVarint(b, s.ts)
	}
	return b
}

var errCorrupt = errors.New("corrupt state record")

type reader struct {
	b   []byte
	err error
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.err = errCorrupt
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) uvarint(limit uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > limit {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string {
	n := r.uvarint(uint64(len(r.b)))
	if r.err != nil {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) bytes() []byte {
	n := r.uvarint(uint64(len(r.b)))
	if r.err != nil {
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}

// decode reads a user's state written by encode.
func (p *Partition) decode(id string, b []byte) (*userState, error) {
	r := &reader{b: b}
	v := r.byte()
	if v != 1 && v != userStateVersion {
		return nil, fmt.Errorf("%w: version %d", errCorrupt, v)
	}
	u := &userState{id: id, vip: r.byte() == 1, exp: r.varint()}
	n := r.uvarint(MaxRules * 4)
	u.rules = make([]ruleState, 0, n)
	for range n {
		name := r.bytes()
		if r.err != nil {
			break
		}
		rs := ruleState{rid: p.internBytes(name), issued: uint32(r.uvarint(1 << 32)), seen: r.byte() == 1,
			total: r.varint(), pending: r.varint(), exp: r.varint()}
		u.rules = append(u.rules, rs)
		st := &u.rules[len(u.rules)-1]
		if nt := r.uvarint(maxWindowEntries); nt > 0 {
			ts := p.win.reserve(&st.ts, int(nt))[:nt]
			prev := int64(0)
			for i := range ts {
				prev += r.varint()
				ts[i] = prev
			}
			st.ts.n = uint16(nt)
		}
		if na := r.uvarint(maxWindowEntries); na > 0 {
			amts := p.win.reserve(&st.amts, int(na))[:na]
			for i := range amts {
				amts[i] = r.varint()
			}
			st.amts.n = uint16(na)
		}
	}
	if v >= 2 {
		n := r.uvarint(uint64(len(r.b)) / 9)
		for range n {
			if r.err != nil || len(r.b) < 8 {
				r.err = errCorrupt
				break
			}
			h := binary.LittleEndian.Uint64(r.b)
			r.b = r.b[8:]
			u.seen = append(u.seen, seenEvent{hash: h, ts: r.varint()})
		}
	}
	if r.err != nil {
		p.release(u)
		return nil, r.err
	}
	return u, nil
}

// meta is a partition's own state: its watermark and its budget spend.
type meta struct {
	wm    int64    // watermark, Unix ms
	chMax [3]int64 // newest event time per input channel
	spent map[string]spend
}

type spend struct{ coupons, value int64 }

func (m *meta) clone() *meta {
	c := *m
	c.spent = make(map[string]spend, len(m.spent))
	for k, v := range m.spent {
		c.spent[k] = v
	}
	return &c
}

// AppendTo appends the binary form of m to b.
func (m *meta) AppendTo(b []byte) []byte { return m.encode(b) }

func (m *meta) encode(b []byte) []byte {
	b = append(b, stateVersion)
	b = binary.AppendVarint(b, m.wm)
	for _, c := range m.chMax {
		b = binary.AppendVarint(b, c)
	}
	b = binary.AppendUvarint(b, uint64(len(m.spent)))
	for _, k := range sortedKeys(m.spent) {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendVarint(b, m.spent[k].coupons)
		b = binary.AppendVarint(b, m.spent[k].value)
	}
	return b
}

func decodeMeta(b []byte) (*meta, error) {
	r := &reader{b: b}
	if v := r.byte(); v != stateVersion {
		return nil, fmt.Errorf("%w: version %d", errCorrupt, v)
	}
	m := &meta{wm: r.varint(), spent: map[string]spend{}}
	for i := range m.chMax {
		m.chMax[i] = r.varint()
	}
	n := r.uvarint(uint64(len(r.b)))
	for range n {
		k := r.string()
		m.spent[k] = spend{r.varint(), r.varint()}
	}
	return m, r.err
}
