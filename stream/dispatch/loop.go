package dispatch

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/stream"
)

// engine owns every piece of dispatch state. One goroutine (run) mutates
// it; pollers, handlers, writers and the group callbacks talk to it through
// channels, so no lock guards the state.
type engine struct {
	cfg   *config
	log   *slog.Logger
	m     *metrics
	write func(ctx context.Context, r *kgo.Record) error // produce and wait for the ack
	pause func(retry bool, topics []string, paused bool)

	lanes       [2]*lane // priority, normal
	parts       map[tp]*part
	timers      timerHeap
	timer       *time.Timer
	running     int
	sinceNormal int
	stopping    bool

	ctl     chan func()
	fetches chan fetchBatch
	results chan result
	writes  chan writeDone
	done    chan struct{} // closed when run returns

	hctx    context.Context // parent of handler contexts
	hcancel context.CancelFunc
	wg      sync.WaitGroup // handler and writer goroutines
}

type fetchBatch struct {
	fs    kgo.Fetches
	retry bool
	ack   chan struct{}
}

type result struct {
	t    *task
	err  error
	took time.Duration
}

type writeDone struct {
	t    *task
	dead bool // a dead-letter write, else parking
}

type arrival struct {
	rec *kgo.Record
}

func newEngine(cfg *config, m *metrics) *engine {
	hctx, hcancel := context.WithCancel(context.Background())
	e := &engine{
		cfg:     cfg,
		log:     cfg.logger.With("group", cfg.group),
		m:       m,
		parts:   make(map[tp]*part),
		timer:   time.NewTimer(time.Hour),
		ctl:     make(chan func()),
		fetches: make(chan fetchBatch),
		results: make(chan result, cfg.maxInFlight),
		writes:  make(chan writeDone, 64),
		done:    make(chan struct{}),
		hctx:    hctx,
		hcancel: hcancel,
	}
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
	for {
		select {
		case <-stop:
			return
		case f := <-e.ctl:
			f()
		case b := <-e.fetches:
			e.onFetch(b)
			close(b.ack)
		case r := <-e.results:
			e.onResult(r)
			// Take what else is there before scheduling again.
		drain:
			for n := 0; n < 256; n++ {
				select {
				case r := <-e.results:
					e.onResult(r)
				default:
					break drain
				}
			}
		case w := <-e.writes:
			e.onWritten(w)
		case <-e.timer.C:
			e.onTimer()
		}
		e.schedule()
		e.updatePause()
	}
}

// onFetch takes a poll's records into their partitions.
func (e *engine) onFetch(b fetchBatch) {
	b.fs.EachPartition(func(fp kgo.FetchTopicPartition) {
		p := e.parts[tp{fp.Topic, fp.Partition}]
		if p == nil || p.dropped || p.revoking || p.retry != b.retry {
			return // not ours (any more); the owner reads it
		}
		p.hwm = fp.HighWatermark
		for _, r := range fp.Records {
			if r.Offset < p.next {
				continue // already seen
			}
			if p.retry {
				e.arriveRetry(p, r)
			} else {
				e.arriveSource(p, r)
			}
		}
		if p.retry && p.loading && p.next >= p.loadEnd {
			e.loaded(p)
		}
	})
}

// arriveSource takes one record of a source partition.
func (e *engine) arriveSource(p *part, r *kgo.Record) {
	p.lane.buffered++
	if p.loading {
		if r.Offset >= p.next {
			p.next = r.Offset + 1
		}
		p.held++
		p.heldRec = append(p.heldRec, &arrival{r})
		return
	}
	e.takeSource(p, r)
}

// takeSource starts tracking a source record: it is skipped if the retry
// partition showed it parked (or done) by a previous owner, else queued
// behind its key.
func (e *engine) takeSource(p *part, r *kgo.Record) {
	p.addPending(r.Offset)
	key := string(r.Key)
	if mp, ok := p.peer.maxParked[key]; ok && r.Offset <= mp {
		e.m.skipped.Inc()
		p.donePending(r.Offset)
		p.lane.buffered--
		return
	}
	meta, err := parseHeaders(r)
	t := &task{
		part:    p,
		offset:  r.Offset,
		heapIdx: -1,
		rec: Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: key, Value: r.Value,
			Headers: meta.ownHeaders, Timestamp: r.Timestamp, EventID: eventID(r.Value), Lane: p.lane.name,
			NotBefore: meta.notBefore},
		due: meta.notBefore,
	}
	if err != nil {
		t.rec.Headers = r.Headers
		t.lastErr, t.malformed = "malformed header: "+err.Error(), true
	}
	e.enqueue(t)
}

// arriveRetry takes one record of a retry partition.
func (e *engine) arriveRetry(p *part, r *kgo.Record) {
	p.lane.buffered++
	p.addPending(r.Offset)
	key := string(r.Key)
	if n := p.unread[key]; n > 1 {
		p.unread[key] = n - 1
	} else if n == 1 {
		delete(p.unread, key)
	}
	meta, err := parseHeaders(r)
	src := meta.source
	if !meta.hasRetryMeta {
		src.SourceTopic, src.SourcePartition, src.SourceOffset = r.Topic, r.Partition, r.Offset
	}
	if p.loading && r.Offset < p.loadEnd && src.SourceTopic == p.peer.topic && src.SourcePartition == p.peer.partition {
		if mp, ok := p.maxParked[key]; !ok || src.SourceOffset > mp {
			p.maxParked[key] = src.SourceOffset
		}
	}
	t := &task{
		part:    p,
		offset:  r.Offset,
		heapIdx: -1,
		rec: Record{Topic: src.SourceTopic, Partition: src.SourcePartition, Offset: src.SourceOffset, Key: key,
			Value: r.Value, Headers: meta.ownHeaders, Timestamp: r.Timestamp, EventID: eventID(r.Value),
			Lane: p.lane.name, NotBefore: meta.notBefore},
		attempts:     src.Attempts,
		firstFailure: src.FirstFailure,
		lastFailure:  src.LastFailure,
		lastErr:      src.Reason,
		due:          meta.due,
	}
	if meta.notBefore.After(t.due) {
		t.due = meta.notBefore
	}
	if err != nil {
		t.rec.Headers = r.Headers
		t.lastErr, t.malformed = "malformed header: "+err.Error(), true
	}
	e.enqueue(t)
}

// loaded ends the loading of retry partition p: its source partition's
// held records are taken in.
func (e *engine) loaded(p *part) {
	p.loading = false
	s := p.peer
	if s == nil || !s.loading {
		return
	}
	s.loading = false
	held := s.heldRec
	s.heldRec, s.held = nil, 0
	s.next = -1
	for _, a := range held {
		e.takeSource(s, a.rec)
	}
	e.log.Debug("partition ready", "topic", s.topic, "partition", s.partition, "parked_keys", len(p.maxParked))
}

// enqueue appends t to its key's queue and activates it if it is the head.
func (e *engine) enqueue(t *task) {
	p := t.part
	q := p.keys[t.rec.Key]
	if q == nil {
		q = &keyQueue{}
		p.keys[t.rec.Key] = q
	}
	q.tasks = append(q.tasks, t)
	if len(q.tasks) == 1 {
		e.activate(t)
	}
}

// activate moves the head of a key queue on: parked behind the key's
// retries, dead-lettered if malformed, timed, or ready.
func (e *engine) activate(t *task) {
	p := t.part
	switch {
	case t.malformed:
		e.deadLetter(t)
	case !p.retry && p.peer.parked(t.rec.Key):
		e.park(t)
	case t.due.After(e.cfg.now()):
		t.state = stWaiting
		heap.Push(&e.timers, t)
		e.resetTimer()
	default:
		e.makeReady(t)
	}
}

func (e *engine) makeReady(t *task) {
	t.state = stReady
	t.part.ready = append(t.part.ready, t)
	t.part.lane.ready++
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
// has records ready.
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
				return
			}
		}
		if t.part.lane == nl {
			e.sinceNormal = 0
		} else if nl.ready > 0 {
			e.sinceNormal++
		}
		e.start(t)
	}
}

// start runs t's handler on a goroutine of its own.
func (e *engine) start(t *task) {
	p := t.part
	p.running++
	p.inflight++
	e.running++
	e.m.inFlight.Inc()
	t.state = stRunning
	if p.ctx == nil {
		p.ctx, p.cancel = context.WithCancel(e.hctx)
	}
	ctx := p.ctx
	rec := t.rec
	rec.Attempt = t.attempts + 1
	h := e.cfg.handler
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		t0 := time.Now()
		err := safeCall(ctx, h, rec)
		took := time.Since(t0)
		select {
		case e.results <- result{t, err, took}:
		case <-e.done:
		}
	}()
}

// safeCall calls h, turning a panic into a permanent error.
func safeCall(ctx context.Context, h Handler, r Record) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = Permanent(fmt.Errorf("handler panicked: %v", v))
		}
	}()
	return h(ctx, r)
}

func (e *engine) onResult(r result) {
	t, p := r.t, r.t.part
	p.running--
	p.inflight--
	e.running--
	e.m.inFlight.Dec()
	e.m.latency.Observe(r.took.Seconds())
	if p.dropped {
		return
	}
	if r.err == nil {
		e.m.processed.Inc()
		e.complete(t)
		return
	}
	now := e.cfg.now()
	e.m.failed.Inc()
	t.attempts++
	t.lastErr = r.err.Error()
	t.lastFailure = now
	if t.firstFailure.IsZero() {
		t.firstFailure = now
	}
	log := e.log.With("event_id", t.rec.EventID, "key", t.rec.Key, "topic", t.rec.Topic,
		"partition", t.rec.Partition, "offset", t.rec.Offset, "attempt", t.attempts, "err", r.err)
	if errors.Is(r.err, ErrPermanent) {
		log.Warn("permanent failure; dead-lettering")
		e.deadLetter(t)
		return
	}
	if t.attempts >= e.cfg.maxAttempts || now.Sub(t.firstFailure) >= e.cfg.maxAge {
		log.Warn("retry budget spent; dead-lettering")
		e.deadLetter(t)
		return
	}
	t.due = now.Add(e.backoff(t.attempts))
	e.m.retried.Inc()
	if !p.retry {
		log.Info("handler failed; parking in the retry topic", "due", t.due)
		e.park(t)
		return
	}
	log.Info("handler failed; retrying", "due", t.due)
	t.state = stWaiting
	heap.Push(&e.timers, t)
	e.resetTimer()
}

// backoff is base*2^(attempt-1) capped at max, with jitter in [d/2, d].
func (e *engine) backoff(attempt int) time.Duration {
	d := e.cfg.backoffBase
	for i := 1; i < attempt && d < e.cfg.backoffMax; i++ {
		d *= 2
	}
	d = min(d, e.cfg.backoffMax)
	return d/2 + rand.N(d/2+1)
}

// park writes source task t to the retry partition; its key is parked
// from now on, so that its later records follow it there.
func (e *engine) park(t *task) {
	p := t.part
	r := p.peer
	r.unread[t.rec.Key]++
	if t.attempts == 0 {
		e.m.parkedBehind.Inc()
	}
	e.startWrite(t, retryRecord(r.topic, e.cfg.group, t), false)
}

// deadLetter writes t to the dead-letter topic; its key proceeds after.
func (e *engine) deadLetter(t *task) {
	dl := stream.DeadLetter{
		Reason:          t.lastErr,
		SourceTopic:     t.rec.Topic,
		SourcePartition: t.rec.Partition,
		SourceOffset:    t.rec.Offset,
		Group:           e.cfg.group,
		Attempts:        t.attempts,
		FirstFailure:    t.firstFailure,
		LastFailure:     t.lastFailure,
		Key:             []byte(t.rec.Key),
		Value:           t.rec.Value,
		Headers:         t.rec.Headers,
	}
	e.startWrite(t, stream.NewDeadLetterRecord(e.cfg.deadLetters, dl), true)
}

// startWrite produces rec on a goroutine, retrying until it is acked or
// the dispatcher is closed, and reports back to the engine.
func (e *engine) startWrite(t *task, rec *kgo.Record, dead bool) {
	t.state = stWriting
	t.part.inflight++
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		wait := 100 * time.Millisecond
		for {
			err := e.write(e.hctx, rec)
			if err == nil {
				break
			}
			if e.hctx.Err() != nil {
				return // closing: the record stays pending, its offset uncommitted
			}
			e.log.Warn("write failed; retrying", "topic", rec.Topic, "err", err)
			select {
			case <-time.After(wait):
			case <-e.hctx.Done():
				return
			}
			wait = min(2*wait, 5*time.Second)
		}
		select {
		case e.writes <- writeDone{t, dead}:
		case <-e.done:
		}
	}()
}

func (e *engine) onWritten(w writeDone) {
	t, p := w.t, w.t.part
	p.inflight--
	if p.dropped {
		return
	}
	if w.dead {
		e.m.deadLettered.Inc()
		e.log.Warn("dead-lettered", "event_id", t.rec.EventID, "key", t.rec.Key, "topic", t.rec.Topic,
			"partition", t.rec.Partition, "offset", t.rec.Offset, "attempts", t.attempts, "reason", t.lastErr)
	}
	e.complete(t)
}

// complete marks t done: its offset may be committed and its key's next
// record goes on.
func (e *engine) complete(t *task) {
	p := t.part
	p.donePending(t.offset)
	p.lane.buffered--
	q := p.keys[t.rec.Key]
	if len(q.tasks) == 0 || q.tasks[0] != t {
		panic("dispatch: completed task is not its key's head")
	}
	q.tasks[0] = nil
	q.tasks = q.tasks[1:]
	if len(q.tasks) == 0 {
		delete(p.keys, t.rec.Key)
	} else if !p.revoking {
		e.activate(q.tasks[0])
	}
	e.checkDrained(p)
}

func (e *engine) checkDrained(p *part) {
	if p.revoking && p.drained != nil && p.inflight == 0 {
		close(p.drained)
		p.drained = nil
	}
}

// updatePause pauses fetching of a lane whose buffer is full, and of the
// normal lane while the priority lane has records ready that wait for a
// handler slot, unless the normal lane's buffer runs low (its starvation
// bound: it keeps enough records to take its share of the slots).
func (e *engine) updatePause() {
	if e.pause == nil {
		return
	}
	pr, nl := e.lanes[0], e.lanes[1]
	low := max(1, 2*e.cfg.maxInFlight/e.cfg.normalShare)
	for _, l := range e.lanes {
		want := l.buffered >= e.cfg.maxBuffered
		if l == nl && pr.ready > 0 && nl.buffered >= low {
			want = true
		}
		if want != l.paused && len(l.topics) > 0 {
			l.paused = want
			e.pause(false, l.topics, want)
			if want && l == nl {
				e.m.normalPaused.Inc()
			}
		}
		wantRetry := l.buffered >= e.cfg.maxBuffered
		if wantRetry != l.retryPaused && len(l.retryTopics) > 0 {
			l.retryPaused = wantRetry
			e.pause(true, l.retryTopics, wantRetry)
		}
	}
}
