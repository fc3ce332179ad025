package rules

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// userState is everything the engine remembers about one user.
type userState struct {
	id    string // the user id, the key in Partition.users
	vip   bool
	rules []ruleState // only rules with something to remember
	// exp is when the whole state may be dropped (event time, Unix ms):
	// the latest expiry of its rule states.
	exp int64
	// inHeap is the expiry the eviction heap holds for this user, 0 if none.
	inHeap int64
}

// ruleState is one user's progress on one rule.
type ruleState struct {
	rule    string
	issued  uint32  // coupons issued to the user by the rule in its campaign
	seen    bool    // first: the first event happened
	total   int64   // sum over the campaign window
	pending int64   // absence: time of the event that started the timer, 0 if none
	ts      []int64 // count and windowed sum: event times, ascending
	amts    []int64 // windowed sum: amounts, parallel to ts
	exp     int64   // when this rule state may be dropped
}

func (u *userState) rule(id string) *ruleState {
	for i := range u.rules {
		if u.rules[i].rule == id {
			return &u.rules[i]
		}
	}
	return nil
}

func (u *userState) ruleOrNew(id string) *ruleState {
	if rs := u.rule(id); rs != nil {
		return rs
	}
	u.rules = append(u.rules, ruleState{rule: id})
	return &u.rules[len(u.rules)-1]
}

// empty reports whether nothing is left worth keeping.
func (u *userState) empty() bool { return len(u.rules) == 0 && !u.vip }

const stateVersion = 1

// AppendTo appends the binary form of u to b: compact varints, rule ids as
// strings so that a changed rules file still finds its state.
func (u *userState) AppendTo(b []byte) []byte { return u.encode(b) }

func (u *userState) encode(b []byte) []byte {
	b = append(b, stateVersion)
	flags := byte(0)
	if u.vip {
		flags = 1
	}
	b = append(b, flags)
	b = binary.AppendVarint(b, u.exp)
	b = binary.AppendUvarint(b, uint64(len(u.rules)))
	for _, rs := range u.rules {
		b = binary.AppendUvarint(b, uint64(len(rs.rule)))
		b = append(b, rs.rule...)
		b = binary.AppendUvarint(b, uint64(rs.issued))
		seen := byte(0)
		if rs.seen {
			seen = 1
		}
		b = append(b, seen)
		b = binary.AppendVarint(b, rs.total)
		b = binary.AppendVarint(b, rs.pending)
		b = binary.AppendVarint(b, rs.exp)
		b = binary.AppendUvarint(b, uint64(len(rs.ts)))
		prev := int64(0)
		for _, t := range rs.ts {
			b = binary.AppendVarint(b, t-prev)
			prev = t
		}
		b = binary.AppendUvarint(b, uint64(len(rs.amts)))
		for _, a := range rs.amts {
			b = binary.AppendVarint(b, a)
		}
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

func decodeUser(id string, b []byte) (*userState, error) {
	r := &reader{b: b}
	if v := r.byte(); v != stateVersion {
		return nil, fmt.Errorf("%w: version %d", errCorrupt, v)
	}
	u := &userState{id: id, vip: r.byte() == 1, exp: r.varint()}
	n := r.uvarint(MaxRules * 4)
	u.rules = make([]ruleState, 0, n)
	for range n {
		rs := ruleState{rule: r.string(), issued: uint32(r.uvarint(1 << 32)), seen: r.byte() == 1,
			total: r.varint(), pending: r.varint(), exp: r.varint()}
		nt := r.uvarint(uint64(len(r.b)))
		prev := int64(0)
		for range nt {
			prev += r.varint()
			rs.ts = append(rs.ts, prev)
		}
		na := r.uvarint(uint64(len(r.b)))
		for range na {
			rs.amts = append(rs.amts, r.varint())
		}
		u.rules = append(u.rules, rs)
	}
	if r.err != nil {
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
