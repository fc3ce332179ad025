package rules

import "math/bits"

// Window entries (event times, amounts) of a partition's rule states live in
// large chunks of int64 that the garbage collector never scans: a rule state
// refers to its entries by index, so a user's state holds no pointers but
// its id and its list of rule states. With a million users, that is what
// keeps garbage collection cheap. Blocks come in power-of-two sizes and are
// reused from free lists; the chunks are kept for the partition's life.

const (
	winChunkBits = 16
	winChunkLen  = 1 << winChunkBits
	// maxWindowEntries bounds the entries of one window (a restored state
	// with more is corrupt). The rules keep far fewer: MaxCount+1 at most.
	maxWindowEntries = winChunkLen - 1
)

// window is a block of entries: n in use out of 1<<(cls-1); cls 0 is no
// block (and no entries).
type window struct {
	off uint32 // chunk<<winChunkBits | index in the chunk
	n   uint16
	cls uint8
}

// windows allocates the blocks of one partition.
type windows struct {
	chunks [][]int64
	used   int // entries handed out of the last chunk
	free   [winChunkBits + 2][]uint32
}

// view returns w's entries, with its block's capacity.
func (s *windows) view(w window) []int64 {
	if w.cls == 0 {
		return nil
	}
	c := s.chunks[w.off>>winChunkBits]
	i := int(w.off & (winChunkLen - 1))
	return c[i : i+int(w.n) : i+1<<(w.cls-1)]
}

// last returns w's last entry; w must not be empty.
func (s *windows) last(w window) int64 {
	return s.chunks[w.off>>winChunkBits][int(w.off&(winChunkLen-1))+int(w.n)-1]
}

// alloc returns an empty block of at least n entries.
func (s *windows) alloc(n int) window {
	cls := uint8(1)
	if n > 1 {
		cls = uint8(bits.Len(uint(n-1))) + 1
	}
	if f := s.free[cls]; len(f) > 0 {
		off := f[len(f)-1]
		s.free[cls] = f[:len(f)-1]
		return window{off: off, cls: cls}
	}
	size := 1 << (cls - 1)
	if len(s.chunks) == 0 || s.used+size > winChunkLen {
		s.chunks = append(s.chunks, make([]int64, winChunkLen))
		s.used = 0
	}
	off := uint32(len(s.chunks)-1)<<winChunkBits | uint32(s.used)
	s.used += size
	return window{off: off, cls: cls}
}

// release returns w's block to the free lists.
func (s *windows) release(w *window) {
	if w.cls != 0 {
		s.free[w.cls] = append(s.free[w.cls], w.off)
	}
	*w = window{}
}

// reserve makes room for k more entries in w, moving it to a larger block
// if needed, and returns its entries (len w.n).
func (s *windows) reserve(w *window, k int) []int64 {
	v := s.view(*w)
	if len(v)+k <= cap(v) {
		return v
	}
	nw := s.alloc(max(len(v)+k, 2*cap(v)))
	nw.n = w.n
	nv := s.view(nw)
	copy(nv, v)
	s.release(w)
	*w = nw
	return nv
}

// dropFront removes w's first k entries.
func (s *windows) dropFront(w *window, k int) {
	if k == 0 {
		return
	}
	v := s.view(*w)
	copy(v, v[k:])
	w.n -= uint16(k)
}

// insertSorted inserts t into rs.ts (and a into rs.amts when amts is set)
// keeping the times ascending; an equal time goes after the existing ones.
func (s *windows) insertSorted(rs *ruleState, t, a int64, amts bool) {
	ts := s.reserve(&rs.ts, 1)
	i := len(ts)
	for i > 0 && ts[i-1] > t {
		i--
	}
	ts = ts[:len(ts)+1]
	copy(ts[i+1:], ts[i:])
	ts[i] = t
	rs.ts.n++
	if amts {
		as := s.reserve(&rs.amts, 1)
		as = as[:len(as)+1]
		copy(as[i+1:], as[i:])
		as[i] = a
		rs.amts.n++
	}
}

// trimWindow drops window entries no future window can include: future
// events are at or after the watermark.
func (p *Partition) trimWindow(rs *ruleState, within int64) {
	ts := p.win.view(rs.ts)
	k := 0
	for k < len(ts) && ts[k] <= p.m.wm-within {
		k++
	}
	if k > 0 {
		p.win.dropFront(&rs.ts, k)
		if rs.amts.cls != 0 {
			p.win.dropFront(&rs.amts, k)
		}
	}
}
