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
			got := decodeDone(want, encodeDone(want, spans))
			if len(spans) > 0 && !slices.Equal(got, spans) && len(encodeDone(want, spans)) < metaMaxBytes-10 {
				t.Fatalf("round %d: spans %v encode and decode to %v", round, spans, got)
			}
		}
	}
}
