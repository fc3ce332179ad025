package rules

import "github.com/cespare/xxhash/v2"

// De-duplication by event id. A copy of an event (a producer's retry, a
// re-send) carries the original's event id and event time. Process keeps,
// in the user's state, the 64-bit hash and time of every event that changed
// it, for as long as a copy would not be late: while its time is at or
// after the partition's watermark. A copy arriving later is late (older than
// the watermark) and is not applied either. So no copy earns a second
// coupon or advances a rule twice, across restarts too: the seen events are
// part of the user's changelog record. Two different events of one user
// within the lateness sharing a 64-bit hash would be taken for copies: at
// 2^-64 per pair, never in practice.
//
// Memory: 16 bytes per event that changed a state, kept for the allowed
// lateness (30s by default) of event time.

// seenEvent is one event that changed a user's state.
type seenEvent struct {
	hash uint64
	ts   int64 // event time, Unix ms
}

func eventHash(id string) uint64 { return xxhash.Sum64String(id) }

func (u *userState) hasSeen(h uint64) bool {
	for _, s := range u.seen {
		if s.hash == h {
			return true
		}
	}
	return false
}

// pruneSeen drops u's seen events older than the watermark (a copy of
// them is late) and returns the newest time left, 0 if none.
func (p *Partition) pruneSeen(u *userState) int64 {
	kept := u.seen[:0]
	var newest int64
	for _, s := range u.seen {
		if s.ts >= p.m.wm {
			kept = append(kept, s)
			newest = max(newest, s.ts)
		}
	}
	u.seen = kept
	return newest
}
