package analytics

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// The sink sends its largest tables' blocks already in their ORDER BY
// order (claims by (scope_key, event_hash), user events by
// (campaign_id, type, ts, user_id)): ClickHouse then skips sorting them,
// which costs it several times more than this does in Go, where the
// String columns of the key, few distinct values per block, become ranks
// (measured on 18.16, 200k user events per INSERT, max_threads=1: 2.1 s
// unsorted, 0.7 s sorted). The rows and the parts are the same either way.

// rowKey is a row's place in its table's ORDER BY: hi orders first, then
// lo, then the row's index in the batch (so equal keys keep their order).
// No pointers: sorting moves 24 bytes a swap, with no write barrier.
type rowKey struct {
	hi  uint64
	lo  uint64
	row int
}

func cmpRowKey(a, b rowKey) int {
	if a.hi != b.hi {
		return cmp.Compare(a.hi, b.hi)
	}
	if a.lo != b.lo {
		return cmp.Compare(a.lo, b.lo)
	}
	return cmp.Compare(a.row, b.row)
}

// sortKeys sorts keys and reports whether that moved any row.
func sortKeys(keys []rowKey) bool {
	if slices.IsSortedFunc(keys, cmpRowKey) {
		return false
	}
	slices.SortFunc(keys, cmpRowKey)
	return true
}

// ranks numbers the distinct values of col in byte order (ClickHouse's
// String order): ranks[i] is the rank of col[i].
func ranks(col []string, out []uint32) []uint32 {
	ids := make(map[string]uint32)
	var names []string
	out = out[:0]
	last, lastID := "", uint32(0)
	for i, v := range col {
		if i == 0 || v != last {
			id, ok := ids[v]
			if !ok {
				id = uint32(len(names))
				ids[v] = id
				names = append(names, v)
			}
			last, lastID = v, id
		}
		out = append(out, lastID)
	}
	order := make([]uint32, len(names)) // id -> rank
	byName := make([]uint32, len(names))
	for i := range byName {
		byName[i] = uint32(i)
	}
	slices.SortFunc(byName, func(a, b uint32) int { return strings.Compare(names[a], names[b]) })
	for r, id := range byName {
		order[id] = uint32(r)
	}
	for i, id := range out {
		out[i] = order[id]
	}
	return out
}

// permuter reorders a batch's columns by sorted keys, through scratch
// slices kept from batch to batch.
type permuter struct {
	keys  []rowKey
	r1    []uint32
	r2    []uint32
	count []int32
	dense []uint32
	out   []rowKey
	str   []string
	u8    []uint8
	u32   []uint32
	u64   []uint64
	i32   []int32
	i64   []int64
	times []time.Time
}

// permute reorders col in place: row i becomes the row keys[i].row.
func permute[T any](col []T, tmp *[]T, keys []rowKey) {
	*tmp = append((*tmp)[:0], col...)
	for i, k := range keys {
		col[i] = (*tmp)[k.row]
	}
}

// sortEvents puts the user events in (campaign_id, type, ts, user_id)
// order.
func (b *Batch) sortEvents() {
	e, p := &b.events, &b.perm
	n := len(e.offset)
	if n < 2 {
		return
	}
	p.r1 = ranks(e.campaignID, p.r1)
	p.r2 = ranks(e.typ, p.r2)
	keys := p.keys[:0]
	for i := 0; i < n; i++ {
		// DateTime is seconds in UInt32 (dateTime clamped the values).
		hi := uint64(p.r1[i])<<48 | uint64(p.r2[i])<<32 | uint64(uint32(e.ts[i].Unix()))
		keys = append(keys, rowKey{hi: hi, row: i})
	}
	p.keys = keys
	if p.r1Overflow() {
		return
	}
	moved := p.countingSort(e.ts)
	keys = p.keys
	if !moved {
		moved = sortKeys(keys)
	}
	// Then user_id within each run of equal (campaign_id, type, ts): short
	// runs, sorted by the strings themselves.
	byUser := func(a, b rowKey) int {
		if c := strings.Compare(e.userID[a.row], e.userID[b.row]); c != 0 {
			return c
		}
		return cmp.Compare(a.row, b.row)
	}
	for lo := 0; lo < n; {
		hi := lo + 1
		for hi < n && keys[hi].hi == keys[lo].hi {
			hi++
		}
		if run := keys[lo:hi]; len(run) > 1 && !slices.IsSortedFunc(run, byUser) {
			slices.SortFunc(run, byUser)
			moved = true
		}
		lo = hi
	}
	if !moved {
		return
	}
	for _, col := range [][]string{e.eventID, e.userID, e.sessionID, e.typ, e.sku, e.campaignID, e.topic} {
		permute(col, &p.str, keys)
	}
	permute(e.v, &p.u8, keys)
	permute(e.ts, &p.times, keys)
	permute(e.tsMs, &p.i64, keys)
	permute(e.offset, &p.i64, keys)
	permute(e.partition, &p.i32, keys)
}

// r1Overflow reports a block with more distinct campaigns or types than
// the key packs (2^16 each): ClickHouse then sorts it itself.
func (p *permuter) r1Overflow() bool {
	for _, r := range p.r1 {
		if r >= 1<<16 {
			return true
		}
	}
	for _, r := range p.r2 {
		if r >= 1<<16 {
			return true
		}
	}
	return false
}

// sortClaims puts the claims in (scope_key, event_hash) order.
func (b *Batch) sortClaims() {
	c, p := &b.claims, &b.claimsPerm
	n := len(c.offset)
	if n < 2 {
		return
	}
	keys := p.keys[:0]
	for i := 0; i < n; i++ {
		keys = append(keys, rowKey{hi: c.scopeKey[i], lo: c.hash[i], row: i})
	}
	p.keys = keys
	if slices.IsSortedFunc(keys, cmpRowKey) {
		return
	}
	p.bucketSort()
	keys = p.keys
	permute(c.scopeKey, &p.u64, keys)
	permute(c.hash, &p.u64, keys)
	permute(c.hash2, &p.u64, keys)
	// The topics by id (the key's high half), written in sorted order: no
	// gather of strings. A batch has a few topics.
	ids, names := p.u32[:0], p.str[:0]
	for i, k := range keys {
		id := uint32(k.hi >> 32)
		if i > 0 && id == uint32(keys[i-1].hi>>32) {
			continue
		}
		if !slices.Contains(ids, id) {
			ids, names = append(ids, id), append(names, c.topic[k.row])
		}
	}
	last, name := uint32(0), ""
	for i, k := range keys {
		if id := uint32(k.hi >> 32); i == 0 || id != last {
			last, name = id, names[slices.Index(ids, id)]
		}
		c.topic[i] = name
	}
	clear(names)
	p.u32, p.str = ids[:0], names[:0]
	permute(c.partition, &p.i32, keys)
	permute(c.offset, &p.i64, keys)
}

// countingSort sorts p.keys (user events, hi = campaign rank, type rank,
// ts) by counting when the block's (campaign, type, second) combinations
// are few next to its rows, as a sink's blocks are (a few campaigns and
// types over seconds or minutes); it reports false, sorting nothing, when
// they are not or the keys were sorted already. Equal keys keep their
// order.
func (p *permuter) countingSort(ts []time.Time) bool {
	keys := p.keys
	n := len(keys)
	var camps, types uint32
	minTS, maxTS := int64(1<<62), int64(-1<<62)
	for i := range keys {
		camps, types = max(camps, p.r1[i]+1), max(types, p.r2[i]+1)
		t := int64(uint32(ts[i].Unix()))
		minTS, maxTS = min(minTS, t), max(maxTS, t)
	}
	span := uint64(maxTS - minTS + 1)
	domain := uint64(camps) * uint64(types) * span
	if domain > uint64(2*n+1024) || slices.IsSortedFunc(keys, cmpRowKey) {
		return false
	}
	count := slices.Grow(p.count[:0], int(domain)+1)[:domain+1]
	clear(count)
	dense := p.dense[:0]
	for i := range keys {
		d := (uint64(p.r1[i])*uint64(types)+uint64(p.r2[i]))*span + uint64(int64(uint32(ts[i].Unix()))-minTS)
		dense = append(dense, uint32(d))
		count[d+1]++
	}
	for d := 1; d < len(count); d++ {
		count[d] += count[d-1]
	}
	out := slices.Grow(p.out[:0], n)[:n]
	for i, k := range keys { // rows in order: stable
		d := dense[k.row]
		out[count[d]] = keys[i]
		count[d]++
	}
	p.count, p.dense = count, dense
	p.keys, p.out = out, keys
	return true
}

// bucketSort sorts p.keys (claims: hi = scope_key, few distinct
// values; lo = an xxhash, uniform) in linear time: by counting into
// buckets of (hi, top bits of lo), about one key per bucket, then each
// bucket by insertion (pdqsort for a crowded one, as equal or clustered
// hashes would make). Equal keys keep their order.
func (p *permuter) bucketSort() {
	keys := p.keys
	n := len(keys)
	// Distinct hi values, numbered in order.
	his := p.u64[:0]
	for i, k := range keys {
		if i == 0 || k.hi != keys[i-1].hi {
			his = append(his, k.hi)
		}
	}
	slices.Sort(his)
	his = slices.Compact(his)
	p.u64 = his
	groups := len(his)
	bits := 0
	for bits < 20 && groups<<(bits+1) <= n {
		bits++
	}
	nb := groups << bits
	count := slices.Grow(p.count[:0], nb+1)[:nb+1]
	clear(count)
	dense := p.dense[:0]
	var g uint32 // the group of keys[i].hi, looked up when hi changes
	for i, k := range keys {
		if i == 0 || k.hi != keys[i-1].hi {
			gi, _ := slices.BinarySearch(his, k.hi)
			g = uint32(gi)
		}
		b := g<<bits | uint32(k.lo>>(64-bits)) // a shift by 64 is 0: bits may be 0
		dense = append(dense, b)
		count[b+1]++
	}
	for b := 1; b < len(count); b++ {
		count[b] += count[b-1]
	}
	out := slices.Grow(p.out[:0], n)[:n]
	for i, k := range keys { // in row order: stable
		b := dense[i]
		out[count[b]] = k
		count[b]++
	}
	// count[b] is now the end of bucket b.
	start := int32(0)
	for b := 0; b < nb; b++ {
		end := count[b]
		if run := out[start:end]; len(run) > 32 {
			slices.SortStableFunc(run, cmpRowKey)
		} else {
			for i := 1; i < len(run); i++ {
				for j := i; j > 0 && cmpRowKey(run[j], run[j-1]) < 0; j-- {
					run[j], run[j-1] = run[j-1], run[j]
				}
			}
		}
		start = end
	}
	p.count, p.dense = count, dense
	p.keys, p.out = out, keys
}
