package dispatch

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestWindow checks the done tracking against a plain set: the watermark
// is the first offset not done, and the spans above it are exactly the
// done offsets, through every order of completion.
func TestWindow(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 200 {
		var w window
		w.next = -1
		start := int64(rng.IntN(1000))
		var offs []int64
		o := start
		for range 1 + rng.IntN(700) {
			o += 1 + int64(rng.IntN(3)/2) // mostly contiguous, some gaps
			offs = append(offs, o)
			w.add(o)
		}
		pending := slices.Clone(offs)
		rng.Shuffle(len(pending), func(i, j int) { pending[i], pending[j] = pending[j], pending[i] })
		notDone := map[int64]bool{}
		for _, o := range offs {
			notDone[o] = true
		}
		for i, o := range pending {
			w.done(o)
			delete(notDone, o)
			if i%7 != 0 && i != len(pending)-1 {
				continue
			}
			want := offs[len(offs)-1] + 1
			for _, x := range offs {
				if notDone[x] {
					want = x
					break
				}
			}
			if got := w.watermark(); got != want {
				t.Fatalf("round %d after %d done: got watermark %d, want %d", round, i+1, got, want)
			}
			if got := w.notDone(); got != len(notDone) {
				t.Fatalf("round %d: got %d not done, want %d", round, got, len(notDone))
			}
			// Every offset in [want, next) is done iff it is in a span.
			spans := w.doneAbove(1 << 30)
			for x := want; x < w.next; x++ {
				in := false
				for _, s := range spans {
					if x >= s.from && x < s.end {
						in = true
					}
				}
				if in == notDone[x] {
					t.Fatalf("round %d: offset %d in spans %v = %v, but not done = %v", round, x, spans, in, notDone[x])
				}
			}
			meta := encodeMeta(want, spans, nil)
			if len(meta) > metaMaxBytes {
				t.Fatalf("round %d: metadata of %d bytes, want at most %d", round, len(meta), metaMaxBytes)
			}
			// What fits decodes exactly; what does not is left out at the end.
			got, _ := decodeMeta(want, meta)
			if len(got) > len(spans) || !slices.Equal(got, spans[:len(got)]) {
				t.Fatalf("round %d: spans %v encode and decode to %v", round, spans, got)
			}
		}
	}
}

// TestCommitMeta: done spans and attempt counts survive the metadata
// round trip; metadata that is not the dispatcher's reads as nothing; and
// what does not fit the broker's limit is left out, never written past it.
func TestCommitMeta(t *testing.T) {
	many := make([]span, 0, 3000)
	for i := range int64(3000) {
		many = append(many, span{100 + 3*i + 1, 100 + 3*i + 2})
	}
	tests := []struct {
		name      string
		at        int64
		spans     []span
		tries     []tryCount
		meta      string // when set, decoded instead of the encoding of spans and tries
		wantSpans string // "all" of spans, "none", or a "prefix" of them (the rest did not fit)
		wantTries map[int64]int
	}{
		{name: "nothing", at: 5, wantSpans: "all"},
		{name: "spans", at: 10, spans: []span{{11, 14}, {20, 21}, {1 << 40, 1<<40 + 5}}, wantSpans: "all"},
		{name: "attempts only", at: 10, tries: []tryCount{{10, 3}, {15, 7}}, wantSpans: "all",
			wantTries: map[int64]int{10: 3, 15: 7}},
		{name: "both", at: 0, spans: []span{{2, 4}}, tries: []tryCount{{1, 2}}, wantSpans: "all",
			wantTries: map[int64]int{1: 2}},
		{name: "truncated", at: 100, spans: many, wantSpans: "prefix"},
		{name: "member id", at: 10, meta: "kgo-2b7c1a", wantSpans: "none"},
		{name: "garbage", at: 10, meta: metaPrefix + "!!!", wantSpans: "none"},
		{name: "not ascending", at: 10, meta: metaPrefix + metaEnc.EncodeToString([]byte{0, 0}), wantSpans: "none"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			meta := tc.meta
			if meta == "" {
				meta = encodeMeta(tc.at, tc.spans, tc.tries)
			}
			if len(meta) > metaMaxBytes {
				t.Fatalf("got %d bytes of metadata, want at most %d", len(meta), metaMaxBytes)
			}
			spans, tries := decodeMeta(tc.at, meta)
			switch tc.wantSpans {
			case "all":
				if !slices.Equal(spans, tc.spans) {
					t.Errorf("got spans %v, want %v", spans, tc.spans)
				}
			case "prefix":
				if len(spans) < 500 || len(spans) >= len(tc.spans) || !slices.Equal(spans, tc.spans[:len(spans)]) {
					t.Errorf("got %d spans, want a prefix of the %d given, of at least 500", len(spans), len(tc.spans))
				}
			case "none":
				if len(spans) != 0 {
					t.Errorf("got spans %v, want none", spans)
				}
			}
			if len(tries) != len(tc.wantTries) {
				t.Errorf("got attempts %v, want %v", tries, tc.wantTries)
			}
			for o, n := range tc.wantTries {
				if tries[o] != n {
					t.Errorf("got attempts %v, want %v", tries, tc.wantTries)
				}
			}
		})
	}
}
