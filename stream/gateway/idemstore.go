package gateway

import (
	"encoding/binary"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
)

// The window's storage holds no Go pointers: keys are kept as 128-bit
// ids (map[keyID]int32 — neither keys nor values point anywhere), entries
// live in fixed pages of pointer-free slots linked by index, and the acks
// of each key are encoded into large byte chunks. The garbage collector
// therefore never scans it, however many keys it holds. With a heap
// object or more per key, a window of a few hundred thousand keys makes
// every collection's mark phase last 100 ms or more on two CPUs, long
// enough to stall every request in flight.

// slotsPerPage is the number of slots in one page of the window's slots.
const slotsPerPage = 1024

// slot is one key of the window. It holds no pointers.
type slot struct {
	id         keyID
	hash       bodyHash
	created    int64 // unix ms of the first request
	acks       span  // encoded acks; empty until something was accepted
	prev, next int32 // insertion order, oldest first; next also links free slots
	busy       bool  // a request works on the key
	waited     bool  // a request waits for it: window.waits holds its channel
}

type slotPage [slotsPerPage]slot

// slots is the window's slot storage: pages that are never moved, so
// growing it copies only the page list, and a free list of slot indexes.
type slots struct {
	pages []*slotPage
	free  int32 // first free slot; -1: none
	used  int
}

func newSlots() slots { return slots{free: -1} }

func (s *slots) at(i int32) *slot { return &s.pages[i/slotsPerPage][i%slotsPerPage] }

// alloc returns a zeroed slot's index.
func (s *slots) alloc() int32 {
	if s.free < 0 {
		base := int32(len(s.pages) * slotsPerPage)
		s.pages = append(s.pages, new(slotPage))
		for i := int32(slotsPerPage - 1); i >= 0; i-- {
			s.pages[len(s.pages)-1][i].next = s.free
			s.free = base + i
		}
	}
	i := s.free
	sl := s.at(i)
	s.free = sl.next
	*sl = slot{prev: -1, next: -1}
	s.used++
	return i
}

func (s *slots) release(i int32) {
	sl := s.at(i)
	*sl = slot{next: s.free}
	s.free = i
	s.used--
}

// arenaChunkSize is the size of one chunk of the acks arena; data larger
// than a quarter of it gets a chunk of its own.
const arenaChunkSize = 64 << 10

// span locates bytes in the arena; n == 0 means none.
type span struct {
	chunk int32
	off   uint32
	n     uint32
}

// arena holds the encoded acks of the window's keys in byte chunks, which
// the garbage collector does not scan. A chunk is dropped once no key
// uses it; keys leave in about the order they came, so chunks empty in
// about the order they filled.
type arena struct {
	chunks [][]byte
	live   []int32 // spans per chunk
	free   []int32 // indexes of dropped chunks, for reuse
	cur    int32   // the chunk being filled; -1: none
}

func newArena() arena { return arena{cur: -1} }

// put copies b into the arena.
func (a *arena) put(b []byte) span {
	if len(b) == 0 {
		return span{}
	}
	if len(b) > arenaChunkSize/4 {
		i := a.chunk(len(b))
		a.chunks[i] = append(a.chunks[i], b...)
		a.live[i] = 1
		return span{chunk: i, n: uint32(len(b))}
	}
	if a.cur < 0 || len(a.chunks[a.cur])+len(b) > cap(a.chunks[a.cur]) {
		old := a.cur
		a.cur = a.chunk(arenaChunkSize)
		if old >= 0 && a.live[old] == 0 {
			a.drop(old)
		}
	}
	c := a.chunks[a.cur]
	off := len(c)
	a.chunks[a.cur] = append(c, b...)
	a.live[a.cur]++
	return span{chunk: a.cur, off: uint32(off), n: uint32(len(b))}
}

func (a *arena) get(s span) []byte {
	if s.n == 0 {
		return nil
	}
	return a.chunks[s.chunk][s.off : s.off+s.n]
}

// release gives up s; its chunk is dropped when nothing else uses it.
func (a *arena) release(s span) {
	if s.n == 0 {
		return
	}
	if a.live[s.chunk]--; a.live[s.chunk] == 0 && s.chunk != a.cur {
		a.drop(s.chunk)
	}
}

// chunk makes a chunk of capacity n and returns its index.
func (a *arena) chunk(n int) int32 {
	b := make([]byte, 0, n)
	if k := len(a.free); k > 0 {
		i := a.free[k-1]
		a.free = a.free[:k-1]
		a.chunks[i], a.live[i] = b, 0
		return i
	}
	a.chunks = append(a.chunks, b)
	a.live = append(a.live, 0)
	return int32(len(a.chunks) - 1)
}

func (a *arena) drop(i int32) {
	a.chunks[i] = nil
	a.free = append(a.free, i)
}

// bytes is the memory the arena's chunks hold.
func (a *arena) bytes() (n int) {
	for _, c := range a.chunks {
		n += cap(c)
	}
	return n
}

// maxAckIndex bounds the item indexes decodeAcks takes.
const maxAckIndex = 1 << 24

// appendAcks encodes the accepted items of acks, in index order: for each
// its index, kind, event id, topic, partition and offset.
func appendAcks(b []byte, acks []savedAck) []byte {
	for i := range acks {
		a := &acks[i]
		if !a.ok {
			continue
		}
		b = binary.AppendUvarint(b, uint64(i))
		b = appendField(b, string(a.kind))
		b = appendField(b, a.eventID)
		b = appendField(b, a.ack.Topic)
		b = binary.AppendVarint(b, int64(a.ack.Partition))
		b = binary.AppendVarint(b, a.ack.Offset)
	}
	return b
}

func appendField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeAcks decodes what appendAcks wrote, by item index (nil for none).
// The bytes were written by appendAcks in this process, so they are well
// formed; decoding stops at anything that is not.
func decodeAcks(b []byte) []savedAck {
	var acks []savedAck
	for len(b) > 0 {
		i, n := binary.Uvarint(b)
		if n <= 0 || i >= maxAckIndex {
			return acks
		}
		b = b[n:]
		var kind, id, topic string
		var ok bool
		if kind, b, ok = decodeField(b); !ok {
			return acks
		}
		if id, b, ok = decodeField(b); !ok {
			return acks
		}
		if topic, b, ok = decodeField(b); !ok {
			return acks
		}
		part, n := binary.Varint(b)
		if n <= 0 {
			return acks
		}
		b = b[n:]
		off, n := binary.Varint(b)
		if n <= 0 {
			return acks
		}
		b = b[n:]
		for uint64(len(acks)) <= i {
			acks = append(acks, savedAck{})
		}
		acks[i] = savedAck{ok: true, kind: schemas.Kind(kind), eventID: id,
			ack: stream.Ack{Topic: topic, Partition: int32(part), Offset: off}}
	}
	return acks
}

func decodeField(b []byte) (string, []byte, bool) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		return "", nil, false
	}
	b = b[n:]
	return string(b[:l]), b[l:], true
}
