package dispatch

import (
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"slices"
	"strings"
)

// Commit metadata: what the committed offset alone cannot say.
//
// A partition's commit point is its first offset not done, but records of
// other keys after it are often done already (per-key concurrency), and
// a record of the retry partition being retried in memory has failed more
// often than its parked copy says. Each commit carries both in the
// partition's commit metadata, so that a new owner (after a crash, a lost
// partition, a restart or a rebalance) skips the done records instead of
// delivering them again, and resumes a retried record's attempt count:
//
//	surge-dispatch/1 <done>[ <attempts>]
//
// <done> is the base64url of uvarint pairs (from - previous end,
// end - from), one per span [from, end) of done offsets, ascending, the
// first "previous end" being the committed offset. <attempts> is the
// base64url of uvarint pairs (offset - committed offset, attempts). The
// text is kept under metaMaxBytes (Kafka's default
// offset.metadata.max.bytes is 4096): spans and counts that do not fit are
// left out, so those records are delivered again or retried from their
// parked count — never a gap, only more duplicates or attempts. Metadata
// in any other form (a plain consumer's, an older dispatcher's) reads as
// nothing.
const (
	metaPrefix   = "surge-dispatch/1 "
	metaMaxBytes = 4000
	// metaMaxSpans bounds the spans read out of a window per commit.
	metaMaxSpans = 1500
	// metaMaxTries bounds the attempt counts written per commit.
	metaMaxTries = 200
)

var metaEnc = base64.RawURLEncoding

// tryCount is the attempts so far of a record not done.
type tryCount struct {
	offset   int64
	attempts int
}

// encodeMeta encodes the done spans and attempt counts above committed
// offset at; "" when there are none.
func encodeMeta(at int64, spans []span, tries []tryCount) string {
	if len(spans) == 0 && len(tries) == 0 {
		return ""
	}
	budget := metaEnc.DecodedLen(metaMaxBytes - len(metaPrefix) - 1)
	var tb []byte
	for _, c := range tries {
		if c.offset < at || c.attempts <= 0 {
			continue
		}
		n := len(tb)
		tb = binary.AppendUvarint(tb, uint64(c.offset-at))
		tb = binary.AppendUvarint(tb, uint64(c.attempts))
		if len(tb) > budget/4 {
			tb = tb[:n] // keep most of the room for the spans
			break
		}
	}
	var sb []byte
	prev := at
	for _, s := range spans {
		if s.from < prev || s.end <= s.from {
			break // not ascending: stop rather than write nonsense
		}
		n := len(sb)
		sb = binary.AppendUvarint(sb, uint64(s.from-prev))
		sb = binary.AppendUvarint(sb, uint64(s.end-s.from))
		if len(sb)+len(tb) > budget {
			sb = sb[:n]
			break
		}
		prev = s.end
	}
	if len(sb) == 0 && len(tb) == 0 {
		return ""
	}
	out := metaPrefix + metaEnc.EncodeToString(sb)
	if len(tb) > 0 {
		out += " " + metaEnc.EncodeToString(tb)
	}
	return out
}

// decodeMeta reads the metadata committed with offset at: the done spans
// and the attempt counts by offset. Both are empty when meta is not the
// dispatcher's; a malformed part reads as empty.
func decodeMeta(at int64, meta string) ([]span, map[int64]int) {
	rest, ok := strings.CutPrefix(meta, metaPrefix)
	if !ok || at < 0 {
		return nil, nil
	}
	done, tries, _ := strings.Cut(rest, " ")
	return decodeSpans(at, done), decodeTries(at, tries)
}

func decodeSpans(at int64, text string) []span {
	pairs, ok := uvarintPairs(text)
	if !ok {
		return nil
	}
	var out []span
	prev := at
	for _, pr := range pairs {
		s := span{prev + int64(pr[0]), prev + int64(pr[0]) + int64(pr[1])}
		if pr[1] == 0 || s.end <= s.from || s.from < prev {
			return nil
		}
		out = append(out, s)
		prev = s.end
	}
	return out
}

func decodeTries(at int64, text string) map[int64]int {
	pairs, ok := uvarintPairs(text)
	if !ok || len(pairs) == 0 {
		return nil
	}
	out := make(map[int64]int, len(pairs))
	for _, pr := range pairs {
		if pr[1] > 1<<20 {
			return nil
		}
		out[at+int64(pr[0])] = int(pr[1])
	}
	return out
}

// uvarintPairs reads base64url text holding pairs of uvarints, each below
// 2^62.
func uvarintPairs(text string) ([][2]uint64, bool) {
	buf, err := metaEnc.DecodeString(text)
	if err != nil {
		return nil, false
	}
	var out [][2]uint64
	for len(buf) > 0 {
		var pr [2]uint64
		for i := range pr {
			v, n := binary.Uvarint(buf)
			if n <= 0 || v > 1<<62 {
				return nil, false
			}
			pr[i], buf = v, buf[n:]
		}
		out = append(out, pr)
	}
	return out, true
}

// commitMeta is what p commits besides its watermark at.
func (p *part) commitMeta(at int64) string {
	var tries []tryCount
	for t := range p.retrying {
		if len(tries) == metaMaxTries {
			break
		}
		tries = append(tries, tryCount{t.offset(), t.attempts()})
	}
	for o, n := range p.priorTries {
		if o >= p.seen && len(tries) < metaMaxTries {
			tries = append(tries, tryCount{o, n})
		}
	}
	slices.SortFunc(tries, func(a, b tryCount) int { return cmp.Compare(a.offset, b.offset) })
	return encodeMeta(at, p.doneSpans(), tries)
}

// doneSpans is what p commits as done above its watermark: the window's
// spans, then those of the previous owner's metadata not read yet.
func (p *part) doneSpans() []span {
	spans := p.win.doneAbove(metaMaxSpans)
	for _, s := range p.prior {
		if len(spans) >= metaMaxSpans {
			break
		}
		if s.end <= p.seen {
			continue
		}
		s.from = max(s.from, p.seen)
		if n := len(spans); n > 0 && spans[n-1].end >= s.from {
			spans[n-1].end = max(spans[n-1].end, s.end)
			continue
		}
		spans = append(spans, s)
	}
	return spans
}
