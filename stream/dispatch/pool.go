package dispatch

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// pool runs handler calls on a bounded set of worker goroutines and hands
// their results back to the engine in batches.
//
// The engine pushes the tasks it starts in one batch per loop turn; a
// worker takes one task at a time, so a slow handler never holds others
// back. Workers are started on demand, up to the in-flight bound, and stay
// for the dispatcher's life.
//
// How many work at once follows the handlers' latency (an moving average
// of their calls): with slow handlers (network calls) every queued task
// gets a worker — a worker that takes a task and sees more queued wakes or
// starts the next one, so a batch fans out without the engine waking each
// worker; with fast handlers (microseconds) as many as there are CPUs,
// since more would only take turns on them and pay a wake-up per task;
// with handlers faster than the dispatcher's own work per record (a few
// microseconds at most), one fewer, since a worker then keeps up with the
// engine and the Kafka client, and those need the CPU left. A
// watchdog wakes one more worker whenever the queue made no progress for
// a millisecond, so a usually fast handler that blocks holds the others
// back for no longer than that (and its latency soon counts as slow).
//
// Results collect in a slice the engine swaps out whole when signalled
// (done is a one-slot channel: one signal stands for any number of
// results), so the engine pays one lock and one channel receive per batch,
// not per record.
type pool struct {
	mu        sync.Mutex
	cond      *sync.Cond // workers wait for tasks
	watchCond *sync.Cond // the watchdog waits for a queue
	queue     fifo
	idle      int // workers waiting for a task, not yet signalled
	workers   int
	max       int
	fast      int    // workers at once for fast handlers
	tiny      int    // workers at once for tiny handlers
	pops      uint64 // tasks taken, for the watchdog
	watching  bool   // the watchdog waits for a queue
	closed    bool
	results   []*task
	spare     []*task
	latency   atomic.Int64 // moving average of handler calls, ns

	done  chan struct{}    // signalled when results goes from empty to not
	call  func(*task) bool // runs the handler, sets task.err; false if not called
	fence *fence           // no call starts while the membership lease has lapsed
	hist  *histogram       // handler latency
	wg    *sync.WaitGroup
}

// slowCall is the average handler latency above which every queued task
// gets a worker of its own; below it a worker takes up to fastBatch tasks
// at once. Below tinyCall a handler takes less than the dispatcher spends
// on a record.
const (
	slowCall  = 50 * time.Microsecond
	tinyCall  = 5 * time.Microsecond
	fastBatch = 16
)

func newPool(bound int, wg *sync.WaitGroup, hist *histogram, f *fence, call func(*task) bool) *pool {
	procs := runtime.GOMAXPROCS(0)
	p := &pool{max: bound, fast: min(bound, max(2, procs)), tiny: min(bound, max(1, procs-1)),
		done: make(chan struct{}, 1), call: call, fence: f, hist: hist, wg: wg}
	p.cond = sync.NewCond(&p.mu)
	p.watchCond = sync.NewCond(&p.mu)
	p.latency.Store(int64(time.Millisecond)) // slow until calls show otherwise
	return p
}

// start starts the watchdog.
func (p *pool) start() {
	p.wg.Add(1)
	go p.watch()
}

// push queues tasks to run.
func (p *pool) push(ts []*task) {
	if len(ts) == 0 {
		return
	}
	p.mu.Lock()
	for _, t := range ts {
		p.queue.push(t)
	}
	p.spreadLocked()
	if p.watching {
		p.watching = false
		p.watchCond.Signal()
	}
	p.mu.Unlock()
}

// spreadLocked wakes or starts one more worker if the queue has tasks and
// the handlers' latency calls for more workers than are active.
func (p *pool) spreadLocked() {
	if p.queue.len() == 0 {
		return
	}
	want := p.fast
	switch avg := time.Duration(p.latency.Load()); {
	case avg > slowCall:
		want = p.max
	case avg <= tinyCall:
		want = p.tiny
	}
	if p.workers-p.idle < want {
		p.wakeLocked()
	}
}

// wakeLocked gets one more worker on the queue: an idle one, or a new one
// while below the bound.
func (p *pool) wakeLocked() {
	switch {
	case p.idle > 0:
		p.idle--
		p.cond.Signal()
	case p.workers < p.max:
		p.workers++
		p.wg.Add(1)
		go p.work()
	}
}

func (p *pool) work() {
	defer p.wg.Done()
	var mine []*task // taken from the queue, not run yet
	var done []*task // run, not reported yet
	obs := p.hist.batch()
	p.mu.Lock()
	for {
		for p.queue.len() == 0 && !p.closed {
			p.idle++
			p.cond.Wait()
		}
		if p.closed {
			p.workers--
			p.mu.Unlock()
			return
		}
		// Fast handlers: take a few tasks at once, one lock for them all.
		n := 1
		avg := p.latency.Load()
		if time.Duration(avg) <= slowCall {
			n = min(p.queue.len(), fastBatch)
		}
		for range n {
			mine = append(mine, p.queue.pop())
		}
		p.pops += uint64(n)
		p.spreadLocked()
		p.mu.Unlock()

		// One clock read per call: a call's time runs from the end of
		// the one before (what lies between is a few field copies).
		base := time.Now()
		var last time.Duration
		for i, t := range mine {
			// The membership lease, against the clock read after the
			// previous call: a paused instance resumes with it lapsed and
			// starts no call for partitions it may have lost (fence.go).
			if !p.fence.holds(base.Add(last)) {
				p.fence.wait(t.part.ctx) // until confirmed, or the partition dropped
				base, last = time.Now(), 0
			}
			called := p.call(t)
			done = append(done, t)
			if !called {
				last = time.Since(base)
				continue
			}
			now := time.Since(base)
			took := now - last
			last = now
			p.hist.observe(obs, took)
			// A moving average over about 16 calls, kept here for the
			// batch; concurrent batches may lose an update, which does
			// not matter here.
			avg += (int64(took) - avg) / 16
			if took > slowCall && i < len(mine)-1 {
				// Slower than expected: give the rest back for others.
				p.latency.Store(avg)
				p.mu.Lock()
				for _, r := range mine[i+1:] {
					p.queue.push(r)
				}
				p.spreadLocked()
				p.mu.Unlock()
				break
			}
		}
		p.latency.Store(avg)
		p.hist.add(obs)
		clear(mine)
		mine = mine[:0]

		p.mu.Lock()
		p.results = append(p.results, done...)
		if len(p.results) == len(done) {
			select {
			case p.done <- struct{}{}:
			default:
			}
		}
		clear(done)
		done = done[:0]
	}
}

// watch wakes one more worker when tasks are queued and none was taken
// for a millisecond.
func (p *pool) watch() {
	defer p.wg.Done()
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		for p.queue.len() == 0 && !p.closed {
			p.watching = true
			p.watchCond.Wait()
		}
		if p.closed {
			return
		}
		seen := p.pops
		p.mu.Unlock()
		time.Sleep(time.Millisecond)
		p.mu.Lock()
		if p.queue.len() > 0 && p.pops == seen {
			p.wakeLocked()
		}
	}
}

// take returns the results reported since the last take. The slice is
// the engine's until the next take.
func (p *pool) take() []*task {
	p.mu.Lock()
	out := p.results
	p.results, p.spare = p.spare[:0], out
	p.mu.Unlock()
	return out
}

// close stops the workers once their current calls return; queued tasks
// are left (their partitions are dropped or the dispatcher is stopping).
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.watchCond.Broadcast()
	p.mu.Unlock()
}

// callHandler runs h for t with its partition's context: the worker's
// half of a task. A task of a dropped partition (revoked or lost since it
// was started) is not called (false) and counted in m.staleDropped.
// With validate, a record that breaks a schema rule never reaches h: its
// error is an *InvalidRecordError, which the engine dead-letters at once.
func callHandler(h Handler, validate bool, t *task, m *metrics) bool {
	ctx := t.part.ctx
	if err := ctx.Err(); err != nil {
		t.err = err
		m.staleDropped.Inc()
		return false
	}
	r := t.record()
	if validate {
		if r.Event, t.err = validateRecord(r.Value); t.err != nil {
			return true
		}
	}
	t.err = safeCall(ctx, h, r)
	return true
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
