package schemas

import (
	"math/rand/v2"
	"time"
)

// crockford is the Crockford base-32 alphabet used by event ids (as in ULID).
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// EventIDLen is the length of an id made by NewEventID.
const EventIDLen = 26

// NewEventID returns a new 26-character event id shaped like a ULID: a 48-bit
// Unix time in milliseconds followed by 80 random bits, written in Crockford
// base 32. Ids made in different milliseconds sort by time as strings; ids
// made in the same millisecond are in random order. It is safe for
// concurrent use and does not lock: the random bits come from the runtime's
// per-thread ChaCha8 generator, seeded from the operating system.
func NewEventID() string {
	return newEventID(time.Now())
}

func newEventID(t time.Time) string {
	ms := uint64(t.UnixMilli()) & (1<<48 - 1)
	r := rand.Uint64()
	// hi:lo is the 128-bit id: 48 time bits, then 80 random bits (16 of them
	// at the bottom of hi, 64 in lo).
	hi := ms<<16 | uint64(rand.Uint32()&0xffff)
	lo := r
	var buf [EventIDLen]byte
	for i := EventIDLen - 1; i >= 0; i-- {
		buf[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(buf[:])
}
