package sink

import "time"

// idSet is a set of 64-bit event-id hashes: open addressing with linear
// probing in one []uint64, so it holds no Go pointers (the garbage
// collector does not scan it) and costs 8 bytes per slot. It grows at 3/4
// full, so a set uses between 10.7 and 21.3 bytes per id, 16 on average
// over its growth cycle. Zero marks an empty slot; the hash 0 is stored
// as 1 (a false match costs one exact lookup, never a wrong answer).
type idSet struct {
	slots []uint64
	n     int
}

func (s *idSet) has(h uint64) bool {
	if s.n == 0 {
		return false
	}
	h = nonZero(h)
	mask := uint64(len(s.slots) - 1)
	for i := mix(h) & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case h:
			return true
		case 0:
			return false
		}
	}
}

// add inserts h and reports whether it was new.
func (s *idSet) add(h uint64) bool {
	if 4*(s.n+1) > 3*len(s.slots) {
		s.grow()
	}
	h = nonZero(h)
	mask := uint64(len(s.slots) - 1)
	for i := mix(h) & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case h:
			return false
		case 0:
			s.slots[i] = h
			s.n++
			return true
		}
	}
}

func (s *idSet) grow() {
	old := s.slots
	s.slots = make([]uint64, max(1024, 2*len(old)))
	s.n = 0
	for _, h := range old {
		if h != 0 {
			s.add(h)
		}
	}
}

func (s *idSet) bytes() int { return 8 * len(s.slots) }

func nonZero(h uint64) uint64 {
	if h == 0 {
		return 1
	}
	return h
}

// mix spreads the bits of a hash over the table index (the hashes come
// from xxhash and are already uniform; this guards against a weak one).
func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h
}

// idWindow is the event ids of one dedup scope seen within the window: one
// idSet per hour of ingestion, dropped once the whole hour is older than
// the window. A lookup checks every hour (at most window/1h + 2 sets),
// newest first.
type idWindow struct {
	window time.Duration
	hours  []hourSet // ascending by hour
}

type hourSet struct {
	hour int64 // Unix seconds / 3600
	set  *idSet
}

func newIDWindow(window time.Duration) *idWindow {
	return &idWindow{window: window}
}

func (w *idWindow) add(h uint64, at time.Time) {
	hr := at.Unix() / 3600
	i := len(w.hours) - 1
	for i >= 0 && w.hours[i].hour > hr {
		i--
	}
	if i < 0 || w.hours[i].hour != hr {
		w.hours = append(w.hours, hourSet{})
		copy(w.hours[i+2:], w.hours[i+1:])
		w.hours[i+1] = hourSet{hour: hr, set: &idSet{}}
		i++
	}
	w.hours[i].set.add(h)
}

func (w *idWindow) has(h uint64) bool {
	for i := len(w.hours) - 1; i >= 0; i-- {
		if w.hours[i].set.has(h) {
			return true
		}
	}
	return false
}

// expire drops the hours that ended before now minus the window.
func (w *idWindow) expire(now time.Time) {
	cut := now.Add(-w.window).Unix() / 3600
	k := 0
	for k < len(w.hours) && w.hours[k].hour < cut {
		k++
	}
	if k > 0 {
		n := copy(w.hours, w.hours[k:])
		clear(w.hours[n:])
		w.hours = w.hours[:n]
	}
}

func (w *idWindow) stats() (ids, bytes int) {
	for _, h := range w.hours {
		ids += h.set.n
		bytes += h.set.bytes()
	}
	return ids, bytes
}
