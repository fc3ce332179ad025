package gateway

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
)

// maxIdempotencyKey is the longest Idempotency-Key header accepted.
const maxIdempotencyKey = 255

// bodyHash identifies a request body: the first 128 bits of its SHA-256.
type bodyHash [16]byte

func hashBody(b []byte) bodyHash {
	s := sha256.Sum256(b)
	var h bodyHash
	copy(h[:], s[:])
	return h
}

// keyID identifies an idempotency key in the window: the first 128 bits
// of the SHA-256 of the namespaced key (API key name, "|", key). The
// window keeps ids rather than keys so that it holds no pointers (see
// idemstore.go); two keys sharing an id is as unlikely as two bodies
// sharing a bodyHash.
type keyID [16]byte

func idOf(key string) keyID {
	s := sha256.Sum256([]byte(key))
	var id keyID
	copy(id[:], s[:])
	return id
}

// savedAck is one accepted record of a request: what a retry is answered
// with instead of producing the record again.
type savedAck struct {
	ok      bool
	kind    schemas.Kind
	eventID string
	ack     stream.Ack
}

// claim is a request's hold on an idempotency key, from window.begin to
// window.finish. acks are the items earlier requests with the key stored.
type claim struct {
	key     string
	slot    int32
	id      keyID
	hash    bodyHash
	created int64      // unix ms of the first request
	acks    []savedAck // by item index; empty when nothing was accepted before
}

// accepted reports whether item i was accepted before.
func (c *claim) accepted(i int) bool { return i < len(c.acks) && c.acks[i].ok }

type beginResult int

const (
	claimed    beginResult = iota // the caller works on the key and must call finish
	conflict                      // the key was used with another body
	inProgress                    // another request works on the key; wait on the channel
)

// window keeps the results of recent requests by idempotency key: at most
// max keys, each for ttl after its first request, oldest dropped first.
// Keys being worked on are never dropped. Its storage holds no pointers
// (idemstore.go), so the garbage collector does not scan it.
type window struct {
	mu         sync.Mutex
	ids        map[keyID]int32 // slot of each key
	slots      slots
	head, tail int32 // insertion order, oldest first; -1: none
	acks       arena
	waits      map[int32]chan struct{} // of busy slots with waiters, closed by finish
	scratch    []byte
	ttl        time.Duration
	max        int
	now        func() time.Time
	evicted    int64 // dropped for room, not for age
}

func newWindow(ttl time.Duration, maxKeys int, now func() time.Time) *window {
	return &window{ids: make(map[keyID]int32), slots: newSlots(), head: -1, tail: -1,
		acks: newArena(), waits: make(map[int32]chan struct{}), ttl: ttl, max: maxKeys, now: now}
}

// begin claims key for a request whose body hashes to h. It returns the
// claim and claimed (the caller must call finish), conflict, or
// inProgress with a channel that closes when the other request finishes.
func (w *window) begin(key string, h bodyHash) (*claim, <-chan struct{}, beginResult) {
	id := idOf(key)
	now := w.now().UnixMilli()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.expire(now, 8)
	i, found := w.ids[id]
	if found {
		if s := w.slots.at(i); !s.busy && w.isExpired(s, now) {
			w.remove(i)
			found = false
		}
	}
	if !found {
		i = w.add(id, h, now)
		w.slots.at(i).busy = true
		w.evict()
		return &claim{key: key, slot: i, id: id, hash: h, created: now}, nil, claimed
	}
	s := w.slots.at(i)
	switch {
	case s.hash != h:
		return nil, nil, conflict
	case s.busy:
		ch := w.waits[i]
		if ch == nil {
			ch = make(chan struct{})
			w.waits[i], s.waited = ch, true
		}
		return nil, ch, inProgress
	}
	s.busy = true
	return &claim{key: key, slot: i, id: id, hash: s.hash, created: s.created,
		acks: decodeAcks(w.acks.get(s.acks))}, nil, claimed
}

// finish releases a claim, recording the acks of items accepted by this
// request (nil: none; the slice is taken over). A key without any
// accepted item is dropped: there is nothing a retry must not repeat.
// When the key gained acks it returns all of them, to be persisted (the
// slice is never modified afterwards); else nil.
func (w *window) finish(c *claim, acks []savedAck) []savedAck {
	merged := mergeAcks(c, acks)
	w.mu.Lock()
	s := w.slots.at(c.slot)
	if s.id != c.id || !s.busy { // cannot happen: a busy key is never dropped
		w.mu.Unlock()
		return merged
	}
	if merged != nil {
		w.scratch = appendAcks(w.scratch[:0], merged)
		old := s.acks
		s.acks = w.acks.put(w.scratch)
		w.acks.release(old)
	}
	var ch chan struct{}
	if s.waited {
		ch = w.waits[c.slot]
		delete(w.waits, c.slot)
	}
	if s.acks.n == 0 {
		w.remove(c.slot)
	} else {
		s.busy, s.waited = false, false
	}
	w.mu.Unlock()
	if ch != nil {
		close(ch)
	}
	return merged
}

// mergeAcks returns the acks stored for c's key with the newly accepted
// items of acks added, or nil when acks adds nothing.
func mergeAcks(c *claim, acks []savedAck) []savedAck {
	var merged []savedAck
	for i, a := range acks {
		if !a.ok || c.accepted(i) {
			continue
		}
		if merged == nil {
			if len(c.acks) == 0 {
				merged = acks // the caller hands acks over
			} else {
				merged = make([]savedAck, max(len(acks), len(c.acks)))
				copy(merged, c.acks)
			}
		}
		merged[i] = a
	}
	return merged
}

// load puts a result read back from the idempotency topic, replacing an
// older one of the same key. Results older than the window are ignored.
func (w *window) load(key string, h bodyHash, created int64, acks []savedAck) {
	now := w.now().UnixMilli()
	if now-created > w.ttl.Milliseconds() {
		return
	}
	id := idOf(key)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.scratch = appendAcks(w.scratch[:0], acks)
	if i, ok := w.ids[id]; ok {
		if s := w.slots.at(i); !s.busy {
			old := s.acks
			s.hash, s.created, s.acks = h, created, w.acks.put(w.scratch)
			w.acks.release(old)
		}
		return
	}
	i := w.add(id, h, created)
	w.slots.at(i).acks = w.acks.put(w.scratch)
	w.evict()
}

// len is the number of keys held.
func (w *window) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.ids)
}

func (w *window) isExpired(s *slot, now int64) bool {
	return now-s.created > w.ttl.Milliseconds()
}

// expire drops up to n expired keys from the old end.
func (w *window) expire(now int64, n int) {
	for i := w.head; i >= 0 && n > 0; n-- {
		s := w.slots.at(i)
		next := s.next
		if !w.isExpired(s, now) {
			return
		}
		if !s.busy {
			w.remove(i)
		}
		i = next
	}
}

// evict drops the oldest idle keys while over max.
func (w *window) evict() {
	for i := w.head; i >= 0 && len(w.ids) > w.max; {
		s := w.slots.at(i)
		next := s.next
		if !s.busy {
			w.remove(i)
			w.evicted++
		}
		i = next
	}
}

// add puts a new idle key at the young end and returns its slot.
func (w *window) add(id keyID, h bodyHash, created int64) int32 {
	i := w.slots.alloc()
	s := w.slots.at(i)
	s.id, s.hash, s.created = id, h, created
	s.prev = w.tail
	if w.tail >= 0 {
		w.slots.at(w.tail).next = i
	} else {
		w.head = i
	}
	w.tail = i
	w.ids[id] = i
	return i
}

func (w *window) remove(i int32) {
	s := w.slots.at(i)
	delete(w.ids, s.id)
	if s.prev >= 0 {
		w.slots.at(s.prev).next = s.next
	} else {
		w.head = s.next
	}
	if s.next >= 0 {
		w.slots.at(s.next).prev = s.prev
	} else {
		w.tail = s.prev
	}
	w.acks.release(s.acks)
	w.slots.release(i)
}

// validIdempotencyKey checks an Idempotency-Key header: 1 to 255 bytes of
// printable ASCII.
func validIdempotencyKey(k string) bool {
	if k == "" || len(k) > maxIdempotencyKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}
