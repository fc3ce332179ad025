package loadgen

import (
	"math/rand/v2"
	"testing"
)

func TestStatusQueueOrder(t *testing.T) {
	var q statusQueue
	rng := rand.New(rand.NewPCG(8, 9))
	for i := range 1000 {
		q.push(pendingStatus{due: rng.Uint64N(100), orderID: string(rune('a' + i%26))})
		if i%3 == 0 { // interleave pops with pushes
			q.pop()
		}
	}
	var prev pendingStatus
	for n := 0; len(q.items) > 0; n++ {
		p := q.pop()
		if n > 0 && (p.due < prev.due || p.due == prev.due && p.seq < prev.seq) {
			t.Fatalf("pop %d = (due %d, seq %d) after (due %d, seq %d), want (due, seq) ascending", n, p.due, p.seq, prev.due, prev.seq)
		}
		prev = p
	}
	if _, ok := q.peekDue(); ok {
		t.Errorf("peekDue on an empty queue reported an item")
	}
}
