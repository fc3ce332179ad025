package sink

import "time"

// idSet is a set of slot values (a 64-bit event-id hash whose low tagBits
// bits idWindow uses as a tag): open addressing with linear probing in one
// []uint64, so it holds no Go pointers (the garbage collector does not scan
// it) and costs 8 bytes per slot. It grows at 3/4 full, so a set uses
// between 10.7 and 21.3 bytes per id, 16 on average over its growth cycle.
// Zero marks an empty slot.
type idSet struct {
	slots []uint64
	n     int
}

// find reports whether a slot holds key (a slot value with its tag bits
// cleared).
func (s *idSet) find(key uint64) bool {
	if s.n == 0 {
		return false
	}
	mask := uint64(len(s.slots) - 1)
	for i := mix(key) & mask; ; i = (i + 1) & mask {
		switch v := s.slots[i]; {
		case v == 0:
			return false
		case v&^tagMask == key:
			return true
		}
	}
}

// put stores slot v; where a slot holds the same key, v replaces it when
// newer (nil: never) says so. It reports whether a slot held the key.
func (s *idSet) put(v uint64, newer func(old uint64) bool) bool {
	if 4*(s.n+1) > 3*len(s.slots) {
		s.grow()
	}
	key := v &^ tagMask
	mask := uint64(len(s.slots) - 1)
	for i := mix(key) & mask; ; i = (i + 1) & mask {
		switch old := s.slots[i]; {
		case old == 0:
			s.slots[i] = v
			s.n++
			return false
		case old&^tagMask == key:
			if newer != nil && newer(old) {
				s.slots[i] = v
			}
			return true
		}
	}
}

func (s *idSet) grow() {
	old := s.slots
	s.slots = make([]uint64, max(1024, 2*len(old)))
	s.n = 0
	for _, v := range old {
		if v != 0 {
			s.put(v, nil)
		}
	}
}

func (s *idSet) bytes() int { return 8 * len(s.slots) }

// tableSize is the slot count, a power of two and at least 1024, at which
// n entries fill an open-addressing table at most num/den full.
func tableSize(n, num, den int) int {
	size := 1024
	for den*n > num*size {
		size *= 2
	}
	return size
}

// mix spreads the bits of a hash over the table index (the hashes come
// from xxhash and are already uniform; this guards against a weak one).
func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h
}

// idWindow is the event ids of one dedup scope seen within the window, in
// one idSet, so that a lookup is one probe sequence however long the
// window. Each slot keeps, in its low tagBits bits, the age bucket its id
// was last added in (a bucket is window/24, so at most 26 are live, fewer
// than the 32 tags; the id itself is compared on its other 59 bits, a false
// match costing one exact lookup). Ids whose bucket ended before now minus
// the window are swept out, about once a bucket.
type idWindow struct {
	window time.Duration
	bucket int64 // seconds
	set    idSet
	newest int64 // newest bucket added; tags decode relative to it
	oldest int64 // no id is older than this bucket
}

const (
	tagBits = 5
	tagMask = 1<<tagBits - 1
)

func newIDWindow(window time.Duration) *idWindow {
	b := max(1, int64((window+23*time.Second)/(24*time.Second)))
	return &idWindow{window: window, bucket: b, newest: -1, oldest: -1}
}

// slotOf is h's slot value in bucket b: never zero (the empty slot).
func slotOf(h uint64, b int64) uint64 {
	k := h &^ tagMask
	if k == 0 {
		k = tagMask + 1
	}
	return k | uint64(b)&tagMask
}

// bucketOf decodes a slot's bucket: the newest bucket at or before
// w.newest with the slot's tag.
func (w *idWindow) bucketOf(slot uint64) int64 {
	return w.newest - (w.newest-int64(slot&tagMask))&tagMask
}

// span is how many buckets back from the newest a tag still decodes
// safely: more than the at most 26 a window spans.
const span = 1<<tagBits - 2

func (w *idWindow) add(h uint64, at time.Time) { w.addNew(h, at) }

// addNew adds h at time at and reports whether h was in the window
// already (one probe sequence for both).
func (w *idWindow) addNew(h uint64, at time.Time) (had bool) {
	b := at.Unix() / w.bucket
	switch {
	case b > w.newest:
		if w.newest >= 0 && b-w.oldest >= span {
			// Tags would wrap: sweep out what is older than span buckets
			// (beyond the window anyway).
			w.sweep(b - span)
		}
		w.newest = b
	case b <= w.newest-span:
		return w.has(h) // beyond the window
	}
	if w.oldest < 0 || b < w.oldest {
		w.oldest = b
	}
	return w.set.put(slotOf(h, b), func(old uint64) bool { return w.bucketOf(old) < b })
}

func (w *idWindow) has(h uint64) bool {
	return w.set.find(slotOf(h, 0) &^ tagMask)
}

// expire sweeps out the ids whose bucket ended before now minus the
// window: bucket b ends at (b+1)*bucket seconds, so those before cut.
// It reports whether it swept.
func (w *idWindow) expire(now time.Time) bool {
	cut := now.Add(-w.window).Unix() / w.bucket
	if w.oldest >= 0 && w.oldest < cut {
		w.sweep(cut)
		return true
	}
	return false
}

// sweep keeps only the ids of buckets at or after cut, in a table sized
// for them.
func (w *idWindow) sweep(cut int64) {
	if w.oldest >= cut {
		return
	}
	live := w.set.slots
	keep := 0
	for _, v := range live {
		if v != 0 && w.bucketOf(v) >= cut {
			keep++
		}
	}
	fresh := idSet{}
	if keep > 0 {
		fresh.slots = make([]uint64, tableSize(keep, 3, 4))
		for _, v := range live {
			if v != 0 && w.bucketOf(v) >= cut {
				fresh.put(v, nil)
			}
		}
	}
	w.set = fresh
	w.oldest = cut
}

func (w *idWindow) stats() (ids, bytes int) {
	return w.set.n, w.set.bytes()
}

// hashIndex maps the 64-bit hashes of a job's originals to their rows:
// open addressing sized for the job (at most half full), its memory reused
// from job to job. The hash 0 is stored as 1; a match is only a candidate,
// compared exactly by the caller.
type hashIndex struct {
	keys []uint64 // 0: empty
	rows []int32
}

// reset empties the index and sizes it for n hashes.
func (x *hashIndex) reset(n int) {
	size := tableSize(n, 1, 2)
	if len(x.keys) != size {
		x.keys, x.rows = make([]uint64, size), make([]int32, size)
		return
	}
	clear(x.keys)
}

func (x *hashIndex) get(h uint64) (int, bool) {
	h = max(h, 1)
	mask := uint64(len(x.keys) - 1)
	for i := mix(h) & mask; ; i = (i + 1) & mask {
		switch x.keys[i] {
		case h:
			return int(x.rows[i]), true
		case 0:
			return 0, false
		}
	}
}

// put maps h to row, replacing what h mapped to. At most the n hashes
// reset sized it for may be put.
func (x *hashIndex) put(h uint64, row int) {
	h = max(h, 1)
	mask := uint64(len(x.keys) - 1)
	for i := mix(h) & mask; ; i = (i + 1) & mask {
		if k := x.keys[i]; k == h || k == 0 {
			x.keys[i], x.rows[i] = h, int32(row)
			return
		}
	}
}
