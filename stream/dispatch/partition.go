package dispatch

import (
	"container/heap"
	"context"
	"slices"
	"time"
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

	// pending holds the offsets fetched, ascending, from the first one not
	// done; doneAhead marks those after it that are done (removed lazily,
	// compacted when they are many). The commit point is pending[0], or
	// next when nothing is pending.
	pending   []int64
	doneAhead map[int64]struct{}
	next      int64 // offset after the last record seen; -1 before the first
	committed int64 // last committed offset; -1 before the first commit
	hwm       int64 // high watermark of the last fetch; -1 unknown

	keys     map[string]*keyQueue
	ready    []*task // heads of key queues that may start now, FIFO
	running  int     // handlers running
	inflight int     // handlers running plus parking and dead-letter writes

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
	held    int // records held (counted in the lane's buffered)
	heldRec []*arrival
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

func newPart(t tp, l *lane, retry bool) *part {
	p := &part{tp: t, lane: l, retry: retry, next: -1, committed: -1, hwm: -1, keys: make(map[string]*keyQueue),
		doneAhead: make(map[int64]struct{})}
	if retry {
		p.unread = make(map[string]int)
		p.maxParked = make(map[string]int64)
	}
	return p
}

// addPending records offset o as fetched and not done.
func (p *part) addPending(o int64) {
	p.pending = append(p.pending, o)
	if o >= p.next {
		p.next = o + 1
	}
}

// donePending records offset o as done, in O(1) amortized.
func (p *part) donePending(o int64) {
	if len(p.pending) == 0 || p.pending[0] != o {
		p.doneAhead[o] = struct{}{}
		if n := len(p.doneAhead); n > 1024 && n > len(p.pending)/2 {
			p.pending = slices.DeleteFunc(p.pending, func(x int64) bool { _, d := p.doneAhead[x]; return d })
			clear(p.doneAhead)
		}
		return
	}
	p.pending = p.pending[1:]
	for len(p.pending) > 0 {
		if _, d := p.doneAhead[p.pending[0]]; !d {
			break
		}
		delete(p.doneAhead, p.pending[0])
		p.pending = p.pending[1:]
	}
}

// notDone is how many fetched records are not done.
func (p *part) notDone() int { return len(p.pending) - len(p.doneAhead) }

// watermark is the offset to commit: everything below it is done. -1 when
// nothing was fetched.
func (p *part) watermark() int64 {
	if len(p.pending) > 0 {
		return p.pending[0]
	}
	return p.next
}

// parked reports whether key has records in the retry partition that are
// not done (retry partitions only).
func (p *part) parked(key string) bool {
	return p.unread[key] > 0 || p.keys[key] != nil
}

// keyQueue holds one key's records of a partition in offset order; the
// head is the only one that may be running, waiting or being parked.
type keyQueue struct {
	tasks []*task
}

type taskState uint8

const (
	stQueued  taskState = iota // behind its key's head
	stWaiting                  // head, waiting for its due time
	stReady                    // head, in its partition's ready queue
	stRunning                  // head, handler running
	stWriting                  // head, being parked or dead-lettered
)

// task is one record on its way through the dispatcher.
type task struct {
	rec    Record
	part   *part
	offset int64 // offset in part (differs from rec.Offset on retry partitions)
	state  taskState

	attempts     int // failed attempts so far
	firstFailure time.Time
	lastFailure  time.Time
	lastErr      string
	due          time.Time // not before this: retry due or not-before time
	heapIdx      int
	malformed    bool // unreadable dispatcher headers: dead-lettered at once
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
	ready    int // tasks in the parts' ready queues
	buffered int // records fetched (or held) and not done
	paused   bool
	// retryPaused is the pause state of the lane's retry topics.
	retryPaused bool
	topics      []string
	retryTopics []string
}

// pick returns the next ready task of the lane, round robin over its
// partitions, skipping partitions at their in-flight bound or revoking.
func (l *lane) pick(maxPerPart int) *task {
	n := len(l.parts)
	for i := 0; i < n; i++ {
		p := l.parts[(l.rr+i)%n]
		if len(p.ready) == 0 || p.running >= maxPerPart || p.revoking {
			continue
		}
		l.rr = (l.rr + i + 1) % n
		t := p.ready[0]
		p.ready[0] = nil
		p.ready = p.ready[1:]
		l.ready--
		return t
	}
	return nil
}

func (l *lane) remove(p *part) {
	if i := slices.Index(l.parts, p); i >= 0 {
		l.parts = slices.Delete(l.parts, i, i+1)
		if l.rr >= len(l.parts) {
			l.rr = 0
		}
	}
}
