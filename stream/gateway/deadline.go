package gateway

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// deadlineStep is how long one shared deadline context is handed out.
const deadlineStep = 20 * time.Millisecond

// deadlines hands out contexts that end about timeout from now: one
// context is shared by every request that starts within the same
// deadlineStep, so a request costs no timer of its own. A request's wait
// for Kafka thus ends between timeout-deadlineStep and timeout after it
// started.
type deadlines struct {
	timeout time.Duration
	mu      sync.Mutex
	cur     atomic.Pointer[sharedDeadline]
}

type sharedDeadline struct {
	ctx    context.Context
	cancel context.CancelFunc // kept, never needed: the context ends at its deadline
	born   time.Time
}

// get returns a context ending about d.timeout after now.
func (d *deadlines) get(now time.Time) context.Context {
	if s := d.cur.Load(); s != nil && now.Sub(s.born) < deadlineStep {
		return s.ctx
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if s := d.cur.Load(); s != nil && now.Sub(s.born) < deadlineStep {
		return s.ctx
	}
	// The context's own timer releases it at its deadline; cancelling it
	// earlier would cut short the requests sharing it.
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	d.cur.Store(&sharedDeadline{ctx: ctx, cancel: cancel, born: now})
	return ctx
}
