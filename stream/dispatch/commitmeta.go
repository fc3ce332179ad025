package dispatch

import (
	"encoding/base64"
	"encoding/binary"
	"strings"
)

// Commit metadata: the offsets done above the commit point.
//
// A partition's commit point is its first offset not done, but records of
// other keys after it are often done already (per-key concurrency). Each
// commit carries them in the partition's commit metadata, so that a new
// owner (after a crash, a lost partition or a restart) skips them instead
// of delivering them again:
//
//	surge-dispatch/1 <base64url of uvarint pairs>
//
// Each pair is (from - previous end, end - from) for one span [from, end)
// of done offsets, ascending; the first "previous end" is the committed
// offset. The text is kept under metaMaxBytes (Kafka's default
// offset.metadata.max.bytes is 4096); spans that do not fit are left out,
// so those records are delivered again: never a gap, only fewer
// duplicates. Metadata in any other form (a plain consumer's, an older
// dispatcher's) reads as no spans.
const (
	metaPrefix   = "surge-dispatch/1 "
	metaMaxBytes = 4000
	// metaMaxSpans bounds the spans read out of a window per commit.
	metaMaxSpans = 1500
)

var metaEnc = base64.RawURLEncoding

// encodeDone encodes the done spans above committed offset at.
func encodeDone(at int64, spans []span) string {
	if len(spans) == 0 {
		return ""
	}
	limit := metaEnc.DecodedLen(metaMaxBytes - len(metaPrefix))
	buf := make([]byte, 0, min(limit, 8*len(spans)))
	prev := at
	for _, s := range spans {
		if s.from < prev || s.end <= s.from {
			break // not ascending: stop rather than write nonsense
		}
		n := len(buf)
		buf = binary.AppendUvarint(buf, uint64(s.from-prev))
		buf = binary.AppendUvarint(buf, uint64(s.end-s.from))
		if len(buf) > limit {
			buf = buf[:n]
			break
		}
		prev = s.end
	}
	if len(buf) == 0 {
		return ""
	}
	return metaPrefix + metaEnc.EncodeToString(buf)
}

// decodeDone reads the done spans of metadata committed with offset at;
// nil when meta is not the dispatcher's or is malformed.
func decodeDone(at int64, meta string) []span {
	rest, ok := strings.CutPrefix(meta, metaPrefix)
	if !ok || at < 0 {
		return nil
	}
	buf, err := metaEnc.DecodeString(rest)
	if err != nil {
		return nil
	}
	var out []span
	prev := at
	for len(buf) > 0 {
		gap, n := binary.Uvarint(buf)
		if n <= 0 {
			return nil
		}
		buf = buf[n:]
		length, n := binary.Uvarint(buf)
		if n <= 0 || length == 0 || gap > 1<<62 || length > 1<<62 {
			return nil
		}
		buf = buf[n:]
		s := span{prev + int64(gap), prev + int64(gap) + int64(length)}
		if s.end <= s.from || s.from < prev {
			return nil
		}
		out = append(out, s)
		prev = s.end
	}
	return out
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
