package dispatch

import (
	"container/heap"
	"context"
	"math/bits"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/schemas"
)

// tp names a topic partition.
type tp struct {
	topic     string
	partition int32
}

// part is the state of one owned partition: a source partition, or the
// retry-topic partition paired with it (peer links the two).
type part struct {
	tp
	lane  *lane
	retry bool
	peer  *part

	win       window // offsets fetched and not done; the commit point
	seen      int64  // offset after the last record taken in
	committed int64  // last committed offset; -1 before the first commit
	meta      string // commit metadata sent with committed
	hwm       int64  // high watermark of the last fetch; -1 unknown
	// prior holds the offsets the previous owner's commit recorded as done
	// above the committed offset: they are skipped. priorTries holds the
	// attempts it recorded for retry records not done (retry partitions).
	prior      []span
	priorTries map[int64]int
	// retrying holds the retry records that failed here and wait for
	// their next attempt in memory: their attempts go into the commit
	// metadata (retry partitions only).
	retrying map[*task]struct{}

	// keys maps a key's hash (engine.keyHash) to the last record of its
	// queue (the tail); the queue runs from the head, the record running
	// or waiting, through task.next. Keys whose hashes collide share a
	// queue: they run one at a time, each still in its order.
	keys     map[uint64]*task
	ready    fifo // heads of key queues that may start now
	running  int  // handlers started and not reported
	inflight int  // handlers plus parking and dead-letter writes

	// ctx is the parent of the partition's handler calls, cancelled when
	// the partition is dropped.
	ctx      context.Context
	cancel   context.CancelFunc
	revoking bool
	dropped  bool
	drained  chan struct{} // closed when revoking and inflight reaches 0

	// Loading: a source partition holds its records (held) until its retry
	// partition has been read up to loadEnd, the retry topic's end offset
	// when the partition was assigned.
	loading bool
	held    []*kgo.Record // counted in the lane's buffered
	loadEnd int64
	// unread counts, per key, records this member parked in the retry
	// partition and has not read back yet (retry partitions only).
	unread map[string]int
	// maxParked is, per key, the highest source offset among the records
	// found in the retry partition when it was assigned (retry partitions
	// only): source records of that key at or below it were parked or done
	// by the previous owner.
	maxParked map[string]int64
}

func newPart(parent context.Context, t tp, l *lane, retry bool) *part {
	p := &part{tp: t, lane: l, retry: retry, committed: -1, hwm: -1, keys: make(map[uint64]*task)}
	p.win.next = -1
	p.ctx, p.cancel = context.WithCancel(parent)
	if retry {
		p.unread = make(map[string]int)
		p.maxParked = make(map[string]int64)
		p.retrying = make(map[*task]struct{})
	}
	return p
}

// parked reports whether key (of hash h) has records in the retry
// partition that are not done (retry partitions only).
func (p *part) parked(h uint64, key []byte) bool {
	return p.keys[h] != nil || p.unread[string(key)] > 0
}

// priorDone reports whether the previous owner recorded offset o as done,
// dropping the spans below it (offsets arrive in ascending order).
func (p *part) priorDone(o int64) bool {
	for len(p.prior) > 0 && p.prior[0].end <= o {
		p.prior = p.prior[1:]
	}
	return len(p.prior) > 0 && p.prior[0].from <= o
}

// window tracks a partition's offsets from the first one not done: a set
// bit per offset fetched and not done. Offsets never fetched (compacted
// away, transaction markers) count as done. add and done are O(1); the
// commit point skips whole words.
type window struct {
	base  int64    // offset of bit 0 of bits[head]
	bits  []uint64 // bits[head:] cover base onwards
	head  int
	count int   // set bits
	next  int64 // offset after the last one added; -1 before the first
}

// add records offset o, above every offset added before, as fetched and
// not done.
func (w *window) add(o int64) {
	if w.next < 0 {
		w.base, w.bits, w.head = o&^63, w.bits[:0], 0
	}
	w.next = o + 1
	i := w.head + int((o-w.base)>>6)
	for len(w.bits) <= i {
		w.bits = append(w.bits, 0)
	}
	w.bits[i] |= 1 << uint((o-w.base)&63)
	w.count++
}

// done records offset o as done.
func (w *window) done(o int64) {
	i := w.head + int((o-w.base)>>6)
	w.bits[i] &^= 1 << uint((o-w.base)&63)
	w.count--
	if w.count == 0 {
		// Nothing pending: restart at the next offset.
		w.base, w.bits, w.head = w.next&^63, w.bits[:0], 0
		return
	}
	for w.head < len(w.bits) && w.bits[w.head] == 0 {
		w.head++
		w.base += 64
	}
	if w.head > 1024 && w.head > len(w.bits)/2 {
		n := copy(w.bits, w.bits[w.head:])
		w.bits, w.head = w.bits[:n], 0
	}
}

// notDone is how many offsets are fetched and not done.
func (w *window) notDone() int { return w.count }

// watermark is the offset to commit: every offset below it is done. -1
// when nothing was fetched.
func (w *window) watermark() int64 {
	if w.count == 0 {
		return w.next
	}
	// done keeps bits[head] non-zero while anything is pending.
	return w.base + int64(trailingZeros(w.bits[w.head]))
}

// doneAbove returns the spans of offsets above the watermark and below
// next that are done, ascending, at most max of them.
func (w *window) doneAbove(max int) []span {
	if w.count == 0 {
		return nil
	}
	var out []span
	from := int64(-1) // start of the done run being read
	for i := w.head; i < len(w.bits); i++ {
		o := w.base + int64(i-w.head)*64
		word := w.bits[i]
		if i == w.head {
			// Below the watermark is not part of the window: read as not done.
			word |= 1<<uint(trailingZeros(word)) - 1
		}
		if (from < 0 && word == ^uint64(0)) || (from >= 0 && word == 0) {
			continue // the run goes on
		}
		for b := range 64 {
			at := o + int64(b)
			if at >= w.next {
				break
			}
			switch set := word&(1<<uint(b)) != 0; {
			case !set && from < 0:
				from = at
			case set && from >= 0:
				out = append(out, span{from, at})
				from = -1
				if len(out) == max {
					return out
				}
			}
		}
	}
	if from >= 0 && from < w.next {
		out = append(out, span{from, w.next})
	}
	return out
}

func trailingZeros(x uint64) int { return bits.TrailingZeros64(x) }

// span is the offsets [from, end).
type span struct{ from, end int64 }

// fifo is a queue of tasks.
type fifo struct {
	s []*task
	h int
}

func (q *fifo) len() int { return len(q.s) - q.h }

func (q *fifo) push(t *task) {
	if q.h > 0 && q.h == len(q.s) {
		q.s, q.h = q.s[:0], 0
	} else if q.h >= 256 && q.h > len(q.s)/2 {
		n := copy(q.s, q.s[q.h:])
		clear(q.s[n:])
		q.s, q.h = q.s[:n], 0
	}
	q.s = append(q.s, t)
}

func (q *fifo) pop() *task {
	t := q.s[q.h]
	q.s[q.h] = nil
	q.h++
	return t
}

type taskState uint8

const (
	stQueued  taskState = iota // behind its key's head
	stWaiting                  // head, waiting for its due time
	stReady                    // head, in its partition's ready queue
	stRunning                  // head, handler running
	stWriting                  // head, being parked or dead-lettered
)

// task is one record on its way through the dispatcher. Tasks of one
// fetch are allocated together; the Record a handler gets is built when it
// starts (Record).
type task struct {
	kr      *kgo.Record
	kh      uint64 // the key's hash
	part    *part
	next    *task // the key's next record
	due     time.Time
	x       *taskExtra // failures and retry state; nil until needed
	err     error      // the handler's answer, set by the worker
	heapIdx int
	state   taskState
}

// taskExtra is the state of a record that failed, came from the retry
// topic or carries dispatcher headers.
type taskExtra struct {
	// src holds the source coordinates of a retry record.
	srcTopic     string
	srcPartition int32
	srcOffset    int64
	hasSrc       bool
	headers      []kgo.RecordHeader // the record's own headers
	notBefore    time.Time
	attempts     int // failed attempts so far
	firstFailure time.Time
	lastFailure  time.Time
	lastErr      string
	malformed    bool // unreadable dispatcher headers: dead-lettered at once
}

func (t *task) extra() *taskExtra {
	if t.x == nil {
		t.x = &taskExtra{headers: t.kr.Headers}
	}
	return t.x
}

func (t *task) attempts() int {
	if t.x == nil {
		return 0
	}
	return t.x.attempts
}

// offset is the task's offset in its partition (the retry partition's for
// a retry record).
func (t *task) offset() int64 { return t.kr.Offset }

// key is the record's key.
func (t *task) key() string { return string(t.kr.Key) }

// record is what the handler receives.
func (t *task) record() Record {
	r := t.kr
	rec := Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: string(r.Key), Value: r.Value,
		Headers: r.Headers, Timestamp: r.Timestamp, EventID: schemas.EventID(r.Value), Attempt: 1, Lane: t.part.lane.name}
	if x := t.x; x != nil {
		rec.Headers, rec.NotBefore, rec.Attempt = x.headers, x.notBefore, x.attempts+1
		if x.hasSrc {
			rec.Topic, rec.Partition, rec.Offset = x.srcTopic, x.srcPartition, x.srcOffset
		}
	}
	return rec
}

// timerHeap orders waiting tasks by due time.
type timerHeap []*task

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*task)
	t.heapIdx = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	n := len(old)
	t := old[n-1]
	old[n-1] = nil
	t.heapIdx = -1
	*h = old[:n-1]
	return t
}

var _ heap.Interface = (*timerHeap)(nil)

// lane is the priority or the normal lane: its partitions, source and
// retry, and what it holds.
type lane struct {
	name     Lane
	parts    []*part
	rr       int // round-robin position in parts
	burst    int // tasks picked from parts[rr] in a row
	ready    int // tasks in the parts' ready queues
	buffered int // records fetched (or held) and not done
	paused   bool
	// retryPaused is the pause state of the lane's retry topics.
	retryPaused bool
	topics      []string
	retryTopics []string
}

// pick returns the next ready task of the lane, round robin over its
// partitions (up to pickBurst tasks from one before the next), skipping
// partitions at their in-flight bound or revoking.
func (l *lane) pick(maxPerPart int) *task {
	n := len(l.parts)
	if n == 0 {
		return nil
	}
	if l.rr >= n {
		l.rr, l.burst = 0, 0
	}
	for i := 0; i < n; i++ {
		j := (l.rr + i) % n
		p := l.parts[j]
		if p.ready.len() == 0 || p.running >= maxPerPart || p.revoking {
			continue
		}
		if i > 0 {
			l.burst = 0
		}
		l.rr, l.burst = j, l.burst+1
		if l.burst >= pickBurst {
			l.rr, l.burst = (j+1)%n, 0
		}
		l.ready--
		return p.ready.pop()
	}
	return nil
}

// pickBurst is how many ready tasks pick takes from one partition before
// it moves on to the next.
const pickBurst = 16

func (l *lane) remove(p *part) {
	if i := slices.Index(l.parts, p); i >= 0 {
		l.parts = slices.Delete(l.parts, i, i+1)
		if l.rr >= len(l.parts) {
			l.rr, l.burst = 0, 0
		}
	}
}
