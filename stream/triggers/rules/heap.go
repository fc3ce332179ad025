package rules

type timer struct {
	at, start  int64
	user, rule string
	rid        uint32 // rule, interned
}

// timerHeap is a min-heap of timers (typed: no boxing per push).
type timerHeap []timer

// less orders timers totally, so that timers due together fire (and spend
// a budget) in the same order in every run.
func (h timerHeap) less(i, j int) bool {
	a, b := &h[i], &h[j]
	if a.at != b.at {
		return a.at < b.at
	}
	if a.user != b.user {
		return a.user < b.user
	}
	if a.rule != b.rule {
		return a.rule < b.rule
	}
	return a.start < b.start
}

func (h *timerHeap) push(t timer) { push(h, t, timerHeap.less) }
func (h *timerHeap) pop() timer   { return pop(h, timerHeap.less) }

type expiry struct {
	at int64
	u  *userState
}

// expHeap is a min-heap of user expiries.
type expHeap []expiry

func (h expHeap) less(i, j int) bool { return h[i].at < h[j].at }

func (h *expHeap) push(e expiry) { push(h, e, expHeap.less) }
func (h *expHeap) pop() expiry   { return pop(h, expHeap.less) }

// push adds e to the min-heap h ordered by less.
func push[H ~[]E, E any](h *H, e E, less func(H, int, int) bool) {
	*h = append(*h, e)
	up(*h, len(*h)-1, less)
}

// pop removes and returns the least element of the non-empty min-heap h,
// clearing its slot so the heap keeps no reference to it.
func pop[H ~[]E, E any](h *H, less func(H, int, int) bool) E {
	old := *h
	n := len(old) - 1
	old[0], old[n] = old[n], old[0]
	down(old[:n], 0, less)
	e := old[n]
	var zero E
	old[n] = zero
	*h = old[:n]
	return e
}

func up[H ~[]E, E any](h H, j int, less func(H, int, int) bool) {
	for j > 0 {
		i := (j - 1) / 2
		if !less(h, j, i) {
			break
		}
		h[i], h[j] = h[j], h[i]
		j = i
	}
}

func down[H ~[]E, E any](h H, i int, less func(H, int, int) bool) {
	n := len(h)
	for {
		j := 2*i + 1
		if j >= n {
			return
		}
		if r := j + 1; r < n && less(h, r, j) {
			j = r
		}
		if !less(h, j, i) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}
