package dispatch

import (
	"container/heap"
	"context"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// engine owns every piece of dispatch state. One goroutine (run) mutates
// it; pollers, workers, writers and the group callbacks talk to it through
// channels (and the pool's result batches), so no lock guards the state.
type engine struct {
	cfg   *config
	log   *slog.Logger
	m     *metrics
	write func(ctx context.Context, r *kgo.Record) error // produce and wait for the ack
	fence *fence                                         // group membership lease (fence.go)
	pause func(retry bool, topics []string, paused bool)

	lanes       [2]*lane // priority, normal
	parts       map[tp]*part
	seed        maphash.Seed // of keyHash
	timers      timerHeap
	timer       *time.Timer
	running     int
	sinceNormal int
	stopping    bool
	starts      []*task // tasks started in this loop turn, pushed to the pool at its end

	ctl     chan func()
	fetches chan fetchBatch
	writes  chan writeDone
	done    chan struct{} // closed when run returns
	pool    *pool
	gates   [2]gate     // may the source (0) and retry (1) pollers poll
	peek    atomic.Bool // some lane is full: refresh the others' end offsets

	hctx    context.Context // parent of handler contexts
	hcancel context.CancelFunc
	wg      sync.WaitGroup // workers and writer goroutines
}

// fetchBatch is one poll of the group client (retry false) or of the retry
// client.
type fetchBatch struct {
	fs    kgo.Fetches
	retry bool
}

type writeDone struct {
	t    *task
	dead bool // a dead-letter write, else parking
}

func newEngine(cfg *config, m *metrics, f *fence) *engine {
	hctx, hcancel := context.WithCancel(context.Background())
	e := &engine{
		cfg:   cfg,
		log:   cfg.logger.With("group", cfg.group),
		m:     m,
		fence: f,
		parts: make(map[tp]*part),
		seed:  maphash.MakeSeed(),
		timer: time.NewTimer(time.Hour),
		ctl:   make(chan func()),
		// One batch of room: the poller fetches the next batch while
		// the engine takes in this one.
		fetches: make(chan fetchBatch, 1),
		writes:  make(chan writeDone, 64),
		done:    make(chan struct{}),
		hctx:    hctx,
		hcancel: hcancel,
	}
	e.gates[0].init()
	e.gates[1].init()
	e.pool = newPool(cfg.maxInFlight, &e.wg, m.latency, f, func(t *task) bool { return callHandler(cfg.handler, cfg.checkRecords, t, m) })
	e.timer.Stop()
	e.lanes[0] = &lane{name: LanePriority}
	e.lanes[1] = &lane{name: LaneNormal}
	for _, t := range cfg.topics {
		l := e.laneOf(t)
		l.topics = append(l.topics, t)
		l.retryTopics = append(l.retryTopics, RetryTopic(cfg.group, t))
	}
	return e
}

// keyHash is what key queues are keyed by: hashing the key's bytes costs
// no string per record.
func (e *engine) keyHash(key []byte) uint64 { return maphash.Bytes(e.seed, key) }

func (e *engine) laneOf(topic string) *lane {
	if e.cfg.priority[topic] {
		return e.lanes[0]
	}
	return e.lanes[1]
}

// do runs f on the engine goroutine and waits for it. It returns false if
// the engine has stopped.
func (e *engine) do(f func()) bool {
	ran := make(chan struct{})
	select {
	case e.ctl <- func() { f(); close(ran) }:
		<-ran
		return true
	case <-e.done:
		return false
	}
}

// run is the engine goroutine. It returns when stop is closed.
func (e *engine) run(stop <-chan struct{}) {
	defer close(e.done)
	e.pool.start()
	defer e.pool.close()
	for {
		select {
		case <-stop:
			return
		case f := <-e.ctl:
			f()
		case b := <-e.fetches:
			e.onFetch(b)
		case <-e.pool.done:
			e.onResults(e.pool.take())
		case w := <-e.writes:
			e.onWritten(w)
		case <-e.timer.C:
			e.onTimer()
		}
		e.schedule()
		e.updatePause()
	}
}

// enqueue appends t to its key's queue and activates it if it is the head.
func (e *engine) enqueue(t *task) {
	p := t.part
	if tail := p.keys[t.kh]; tail != nil {
		tail.next = t
		p.keys[t.kh] = t
		return
	}
	p.keys[t.kh] = t
	e.activate(t)
}

// activate moves the head of a key queue on: parked behind the key's
// retries, dead-lettered if malformed, timed, or ready.
func (e *engine) activate(t *task) {
	p := t.part
	switch {
	case t.x != nil && t.x.malformed:
		e.deadLetter(t)
	case !p.retry && len(p.peer.keys)+len(p.peer.unread) > 0 && p.peer.parked(t.kh, t.kr.Key):
		e.park(t)
	case !t.due.IsZero() && t.due.After(e.cfg.now()):
		e.wait(t)
	default:
		e.makeReady(t)
	}
}

func (e *engine) makeReady(t *task) {
	t.state = stReady
	t.part.ready.push(t)
	t.part.lane.ready++
}

// wait puts t in the timer heap until its due time.
func (e *engine) wait(t *task) {
	t.state = stWaiting
	heap.Push(&e.timers, t)
	e.resetTimer()
}

func (e *engine) resetTimer() {
	if len(e.timers) == 0 {
		return
	}
	e.timer.Reset(max(0, e.timers[0].due.Sub(e.cfg.now())))
}

func (e *engine) onTimer() {
	now := e.cfg.now()
	for len(e.timers) > 0 && !e.timers[0].due.After(now) {
		t := heap.Pop(&e.timers).(*task)
		if t.part.dropped {
			continue
		}
		e.makeReady(t)
	}
	e.resetTimer()
}

// schedule starts ready tasks up to the in-flight bounds, priority lane
// first but at least 1 in normalShare starts for the normal lane while it
// has records ready, and hands them to the pool in one batch.
func (e *engine) schedule() {
	if e.stopping {
		return
	}
	pr, nl := e.lanes[0], e.lanes[1]
	for e.running < e.cfg.maxInFlight && (pr.ready > 0 || nl.ready > 0) {
		first, second := pr, nl
		if pr.ready > 0 && nl.ready > 0 && e.sinceNormal >= e.cfg.normalShare-1 {
			first, second = nl, pr
		}
		t := first.pick(e.cfg.maxPerPart)
		if t == nil {
			if t = second.pick(e.cfg.maxPerPart); t == nil {
				break
			}
		}
		if t.part.lane == nl {
			e.sinceNormal = 0
		} else if nl.ready > 0 {
			e.sinceNormal++
		}
		p := t.part
		p.running++
		p.inflight++
		e.running++
		t.state = stRunning
		e.starts = append(e.starts, t)
	}
	if len(e.starts) > 0 {
		e.pool.push(e.starts)
		clear(e.starts)
		e.starts = e.starts[:0]
		e.m.inFlight.Set(float64(e.running))
	}
}

// onResults takes a batch of handler results.
func (e *engine) onResults(ts []*task) {
	ok := 0
	for _, t := range ts {
		p := t.part
		p.running--
		p.inflight--
		e.running--
		if p.dropped {
			continue
		}
		if t.err == nil {
			ok++
			e.complete(t)
			continue
		}
		err := t.err
		t.err = nil
		if ie, ok := err.(*InvalidRecordError); ok {
			e.onInvalid(t, ie)
			continue
		}
		e.onFailure(t, err)
	}
	e.m.processed.add(int64(ok))
	e.m.inFlight.Set(float64(e.running))
}

// complete marks t done: its offset may be committed and its key's next
// record goes on.
func (e *engine) complete(t *task) {
	p := t.part
	p.win.done(t.offset())
	p.lane.buffered--
	if p.retry {
		delete(p.retrying, t)
	}
	if n := t.next; n != nil {
		t.next = nil
		if !p.revoking {
			e.activate(n)
		}
	} else {
		delete(p.keys, t.kh)
	}
	e.checkDrained(p)
}

func (e *engine) checkDrained(p *part) {
	if p.revoking && p.drained != nil && p.inflight == 0 {
		close(p.drained)
		p.drained = nil
	}
}
