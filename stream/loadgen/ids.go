package loadgen

import "strconv"

// crockford is the Crockford base-32 alphabet that ULIDs (and so
// schemas.NewEventID) use.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// idLen is the length of an event id: 26 characters, like a ULID.
const idLen = 26

// appendID appends the 26-character Crockford base-32 form of the 128-bit
// value hi<<64|lo. The result has the shape of a ULID (its first character is
// 0–7), so it fits wherever a schemas.NewEventID id fits.
func appendID(dst []byte, hi, lo uint64) []byte {
	var buf [idLen]byte
	for i := idLen - 1; i >= 0; i-- {
		buf[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return append(dst, buf[:]...)
}

// idEncoder writes the ids of one seed. The first 13 characters of an id
// depend on the seed only (they hold bits 127..61 of seed<<64|n, the 14th
// mixes the seed's lowest bit with n's top 4 bits), so they are computed
// once.
type idEncoder struct {
	head [13]byte
	low  uint64 // the seed's lowest bit, at bit 4 of the 14th character
}

func newIDEncoder(seed uint64) idEncoder {
	var e idEncoder
	var full [idLen]byte
	appendID(full[:0], seed, 0)
	copy(e.head[:], full[:13])
	e.low = (seed & 1) << 4
	return e
}

// append appends the 26-character id of (seed, n); it equals
// appendID(dst, seed, n).
func (e *idEncoder) append(dst []byte, n uint64) []byte {
	var tail [idLen - 13]byte
	for i := len(tail) - 1; i > 0; i-- {
		tail[i] = crockford[n&31]
		n >>= 5
	}
	tail[0] = crockford[e.low|n&15]
	dst = append(dst, e.head[:]...)
	return append(dst, tail[:]...)
}

// eventID is the id of the n-th record a generator with this seed produces:
// the seed in the high 64 bits and the counter in the low 64 bits. Ids are
// therefore deterministic per seed, unique across seeds, and sort by counter
// within one run.
func (e *idEncoder) eventID(n uint64) string {
	var buf [idLen]byte
	return string(e.append(buf[:0], n))
}

// prefixedID is prefix (at most 2 bytes) followed by the 26-character id of
// (seed, n); order and session ids use it with their own counters ("o-…",
// "s-…").
func (e *idEncoder) prefixedID(prefix string, n uint64) string {
	var buf [2 + idLen]byte
	return string(e.append(append(buf[:0], prefix...), n))
}

// userIDWidth is the number of digits of every user id of a population of n
// users: at least 6, more when the population needs them.
func userIDWidth(n int) int {
	w := len(strconv.Itoa(n - 1))
	return max(w, 6)
}

// userID is the stable id of user i: "u-" and i zero-padded to width digits,
// e.g. "u-000123".
func userID(i, width int) string {
	var num [20]byte
	digits := strconv.AppendInt(num[:0], int64(i), 10)
	var buf [24]byte
	b := append(buf[:0], 'u', '-')
	for pad := width - len(digits); pad > 0; pad-- {
		b = append(b, '0')
	}
	return string(append(b, digits...))
}
