package stream

import (
	"context"
	"sync"
	"time"
)

// bufferCtx is the context a Producer hands kgo with each record. While
// armed it follows the caller's context, so that the caller can give up
// waiting for buffer space; once the record is buffered it is disarmed and
// never ends, so that the caller's cancellation cannot fail the batch the
// record shares with other callers' records. It lives inside a pooled
// pending record, so it costs no allocation.
//
// kgo may read it from goroutines of its own (such as the one waiting for
// an unknown topic's metadata) until after the record's promise ran, so
// every access takes the mutex; it is uncontended in practice.
type bufferCtx struct {
	mu     sync.Mutex
	armed  bool
	parent context.Context
}

var background = context.Background()

func (c *bufferCtx) arm(ctx context.Context) {
	if ctx == nil {
		ctx = background
	}
	c.mu.Lock()
	c.parent, c.armed = ctx, true
	c.mu.Unlock()
}

func (c *bufferCtx) disarm() {
	c.mu.Lock()
	c.armed = false
	c.mu.Unlock()
}

// reset drops the caller's context so the pool does not keep it alive.
func (c *bufferCtx) reset() {
	c.mu.Lock()
	c.parent, c.armed = background, false
	c.mu.Unlock()
}

// active returns the caller's context while armed, else nil.
func (c *bufferCtx) active() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.armed {
		return c.parent
	}
	return nil
}

// Deadline implements context.Context.
func (c *bufferCtx) Deadline() (time.Time, bool) {
	if p := c.active(); p != nil {
		return p.Deadline()
	}
	return time.Time{}, false
}

// Done implements context.Context: nil (never done) once disarmed.
func (c *bufferCtx) Done() <-chan struct{} {
	if p := c.active(); p != nil {
		return p.Done()
	}
	return nil
}

// Err implements context.Context.
func (c *bufferCtx) Err() error {
	if p := c.active(); p != nil {
		return p.Err()
	}
	return nil
}

// Value implements context.Context. Values stay visible after disarm
// (hooks may read tracing data from them) until the record is released.
func (c *bufferCtx) Value(key any) any {
	c.mu.Lock()
	p := c.parent
	c.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.Value(key)
}
