package stream

import (
	"context"
	"sync/atomic"
	"time"
)

// bufferCtx is the context a Producer hands kgo with each record. While
// armed it follows the caller's context, so that the caller can give up
// waiting for buffer space; once the record is buffered it is disarmed and
// never ends, so that the caller's cancellation cannot fail the batch the
// record shares with other callers' records. It lives inside a pooled
// pending record, so it costs no allocation.
//
// parent is written only before the record is handed to kgo (arm) and
// after its promise ran (reset), when kgo no longer reads it, so it needs
// no lock; armed flips while kgo may be reading, so it is atomic.
type bufferCtx struct {
	armed  atomic.Bool
	parent context.Context
}

var background = context.Background()

func (c *bufferCtx) arm(ctx context.Context) {
	if ctx == nil {
		ctx = background
	}
	c.parent = ctx
	c.armed.Store(true)
}

func (c *bufferCtx) disarm() { c.armed.Store(false) }

func (c *bufferCtx) reset() {
	c.armed.Store(false)
	c.parent = background
}

func (c *bufferCtx) get() context.Context {
	if c.parent == nil {
		return background
	}
	return c.parent
}

// Deadline implements context.Context.
func (c *bufferCtx) Deadline() (time.Time, bool) {
	if c.armed.Load() {
		return c.get().Deadline()
	}
	return time.Time{}, false
}

// Done implements context.Context: nil (never done) once disarmed.
func (c *bufferCtx) Done() <-chan struct{} {
	if c.armed.Load() {
		return c.get().Done()
	}
	return nil
}

// Err implements context.Context.
func (c *bufferCtx) Err() error {
	if c.armed.Load() {
		return c.get().Err()
	}
	return nil
}

// Value implements context.Context: values stay visible (hooks may read
// tracing data from them).
func (c *bufferCtx) Value(key any) any { return c.get().Value(key) }
