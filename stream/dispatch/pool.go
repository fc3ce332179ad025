package dispatch

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// pool runs handler calls on a bounded set of worker goroutines and hands
// their results back to the engine in batches.
//
// The engine pushes the tasks it starts in one batch per loop turn; a
// worker takes one task at a time, so a slow handler never holds others
// back. Workers are started on demand, up to the in-flight bound, and stay
// for the dispatcher's life: with fast handlers a few of them keep up,
// with slow ones there is one per running handler. A worker that takes a
// task and sees more queued wakes (or starts) the next one, so a batch
// fans out without the engine waking every worker itself.
//
// Results collect in a slice the engine swaps out whole when signalled
// (done is a one-slot channel: one signal stands for any number of
// results), so the engine pays one lock and one channel receive per batch,
// not per record.
type pool struct {
	mu      sync.Mutex
	cond    *sync.Cond
	queue   fifo
	idle    int // workers waiting for a task, not yet signalled
	workers int
	max     int
	closed  bool
	results []*task
	spare   []*task

	done chan struct{} // signalled when results goes from empty to not
	call func(*task)   // runs the handler, sets task.err
	wg   *sync.WaitGroup
}

func newPool(max int, wg *sync.WaitGroup, call func(*task)) *pool {
	p := &pool{max: max, done: make(chan struct{}, 1), call: call, wg: wg}
	p.cond = sync.NewCond(&p.mu)
	return p
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
	p.wakeLocked()
	p.mu.Unlock()
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
		t := p.queue.pop()
		if p.queue.len() > 0 {
			p.wakeLocked()
		}
		p.mu.Unlock()

		p.call(t)

		p.mu.Lock()
		p.results = append(p.results, t)
		if len(p.results) == 1 {
			select {
			case p.done <- struct{}{}:
			default:
			}
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
	p.mu.Unlock()
}

// callHandler runs h for t with its partition's context: the worker's
// half of a task. A task of a dropped partition is not called.
func callHandler(h Handler, t *task, observe func(time.Duration)) {
	ctx := t.part.ctx
	if err := ctx.Err(); err != nil {
		t.err = err
		return
	}
	rec := t.record()
	t0 := time.Now()
	t.err = safeCall(ctx, h, rec)
	observe(time.Since(t0))
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
