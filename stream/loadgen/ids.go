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

// eventID is the id of the n-th record a generator with the given seed
// produces: the seed in the high 64 bits and the counter in the low 64 bits.
// Ids are therefore deterministic per seed, unique across seeds, and sort by
// counter within one run.
func eventID(seed uint64, n uint64) string {
	var buf [idLen]byte
	return string(appendID(buf[:0], seed, n))
}

// prefixedID is prefix followed by the 26-character id of (seed, n); order
// and session ids use it with their own counters ("o-…", "s-…").
func prefixedID(prefix string, seed, n uint64) string {
	var buf [2 + idLen]byte
	b := append(buf[:0], prefix...)
	return string(appendID(b, seed, n))
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
