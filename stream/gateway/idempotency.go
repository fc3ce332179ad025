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

// savedAck is one accepted record of a request: what a retry is answered
// with instead of producing the record again.
type savedAck struct {
	ok      bool
	kind    schemas.Kind
	eventID string
	ack     stream.Ack
}

// entry is the state of one idempotency key. While a request works on it,
// busy is set; a second request with the key makes wait and waits for it
// to close. acks is replaced, never modified, once set, so a snapshot of
// it can be read without the lock.
type entry struct {
	key     string
	hash    bodyHash
	created int64      // unix ms of the first request
	acks    []savedAck // by item index; empty until something was accepted
	busy    bool
	wait    chan struct{} // made by the first waiter, closed by finish

	prev, next *entry // insertion order, oldest first
}

// accepted reports whether item i was accepted before.
func (e *entry) accepted(i int) bool { return i < len(e.acks) && e.acks[i].ok }

type beginResult int

const (
	claimed    beginResult = iota // the caller works on the entry and must call finish
	conflict                      // the key was used with another body
	inProgress                    // another request works on the key; wait on the channel
)

// window keeps the results of recent requests by idempotency key: at most
// max keys, each for ttl after its first request, oldest dropped first.
// Entries being worked on are never dropped.
type window struct {
	mu         sync.Mutex
	m          map[string]*entry
	head, tail *entry
	ttl        time.Duration
	max        int
	now        func() time.Time
	evicted    int64 // dropped for room, not for age
}

func newWindow(ttl time.Duration, maxKeys int, now func() time.Time) *window {
	return &window{m: make(map[string]*entry), ttl: ttl, max: maxKeys, now: now}
}

// begin claims key for a request whose body hashes to h. It returns the
// entry and claimed (the caller must call finish), conflict, or inProgress
// with a channel that closes when the other request finishes.
func (w *window) begin(key string, h bodyHash) (*entry, <-chan struct{}, beginResult) {
	now := w.now().UnixMilli()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.expire(now, 8)
	e := w.m[key]
	if e != nil && !e.busy && w.isExpired(e, now) {
		w.remove(e)
		e = nil
	}
	switch {
	case e == nil:
		e = &entry{key: key, hash: h, created: now, busy: true}
		w.m[key] = e
		w.push(e)
		w.evict()
		return e, nil, claimed
	case e.hash != h:
		return nil, nil, conflict
	case e.busy:
		if e.wait == nil {
			e.wait = make(chan struct{})
		}
		return nil, e.wait, inProgress
	}
	e.busy = true
	return e, nil, claimed
}

// finish releases a claimed entry, recording the acks of items accepted by
// this request (nil: none; the slice is taken over). An entry without any
// accepted item is dropped: there is nothing a retry must not repeat. When
// the entry gained acks it returns all of them, to be persisted (the slice
// is never modified afterwards); else nil.
func (w *window) finish(e *entry, acks []savedAck) []savedAck {
	w.mu.Lock()
	var merged []savedAck
	for i, a := range acks {
		if !a.ok || e.accepted(i) {
			continue
		}
		if merged == nil {
			if len(e.acks) == 0 {
				merged = acks // the caller hands acks over
			} else {
				merged = make([]savedAck, max(len(acks), len(e.acks)))
				copy(merged, e.acks)
			}
		}
		merged[i] = a
	}
	if merged != nil {
		e.acks = merged
	}
	if !e.hasAcks() && w.m[e.key] == e {
		w.remove(e)
	}
	ch := e.wait
	e.busy, e.wait = false, nil
	w.mu.Unlock()
	if ch != nil {
		close(ch)
	}
	return merged
}

func (e *entry) hasAcks() bool {
	for _, a := range e.acks {
		if a.ok {
			return true
		}
	}
	return false
}

// load puts a result read back from the idempotency topic, replacing an
// older one of the same key. Results older than the window are ignored.
func (w *window) load(key string, h bodyHash, created int64, acks []savedAck) {
	now := w.now().UnixMilli()
	if now-created > w.ttl.Milliseconds() {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if e := w.m[key]; e != nil {
		if !e.busy {
			e.hash, e.created, e.acks = h, created, acks
		}
		return
	}
	e := &entry{key: key, hash: h, created: created, acks: acks}
	w.m[key] = e
	w.push(e)
	w.evict()
}

// len is the number of keys held.
func (w *window) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.m)
}

func (w *window) isExpired(e *entry, now int64) bool {
	return now-e.created > w.ttl.Milliseconds()
}

// expire drops up to n expired entries from the old end.
func (w *window) expire(now int64, n int) {
	for e := w.head; e != nil && n > 0; n-- {
		next := e.next
		if !w.isExpired(e, now) {
			return
		}
		if !e.busy {
			w.remove(e)
		}
		e = next
	}
}

// evict drops the oldest idle entries while over max.
func (w *window) evict() {
	for e := w.head; e != nil && len(w.m) > w.max; {
		next := e.next
		if !e.busy {
			w.remove(e)
			w.evicted++
		}
		e = next
	}
}

func (w *window) push(e *entry) {
	e.prev, e.next = w.tail, nil
	if w.tail != nil {
		w.tail.next = e
	} else {
		w.head = e
	}
	w.tail = e
}

func (w *window) remove(e *entry) {
	delete(w.m, e.key)
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		w.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		w.tail = e.prev
	}
	e.prev, e.next = nil, nil
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
