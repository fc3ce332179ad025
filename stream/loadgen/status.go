package loadgen

import "github.com/surgeio/surge/schemas"

// pendingStatus is a status change waiting for its turn in the sequence.
type pendingStatus struct {
	due, seq uint64 // emit at record due; seq orders equal dues
	orderID  string
	userID   string
	status   schemas.OrderStatusValue
	priority schemas.Priority // the order's, so the status travels in its lane
	vip      bool
}

// statusQueue is a min-heap of pending statuses by (due, seq).
type statusQueue struct {
	items []pendingStatus
	seq   uint64
}

func (q *statusQueue) less(i, j int) bool {
	a, b := &q.items[i], &q.items[j]
	return a.due < b.due || a.due == b.due && a.seq < b.seq
}

func (q *statusQueue) peekDue() (uint64, bool) {
	if len(q.items) == 0 {
		return 0, false
	}
	return q.items[0].due, true
}

func (q *statusQueue) push(p pendingStatus) {
	p.seq = q.seq
	q.seq++
	q.items = append(q.items, p)
	for i := len(q.items) - 1; i > 0; {
		parent := (i - 1) / 2
		if !q.less(i, parent) {
			break
		}
		q.items[i], q.items[parent] = q.items[parent], q.items[i]
		i = parent
	}
}

func (q *statusQueue) pop() pendingStatus {
	top := q.items[0]
	last := len(q.items) - 1
	q.items[0] = q.items[last]
	q.items[last] = pendingStatus{}
	q.items = q.items[:last]
	for i := 0; ; {
		small, l, r := i, 2*i+1, 2*i+2
		if l < last && q.less(l, small) {
			small = l
		}
		if r < last && q.less(r, small) {
			small = r
		}
		if small == i {
			break
		}
		q.items[i], q.items[small] = q.items[small], q.items[i]
		i = small
	}
	return top
}
