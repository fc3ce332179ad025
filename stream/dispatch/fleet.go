package dispatch

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"
)

// Fleet is a set of simulated services, each its own consumer group, as
// `surge up` runs them to show fan-out end to end.
type Fleet struct {
	ds []*Dispatcher
}

// NewFleet builds one dispatcher per named simulation (see Simulations):
// group "<name>", the simulation's handler, and opts (WithClient at
// least) for the rest.
func NewFleet(names []string, opts ...Opt) (*Fleet, error) {
	f := &Fleet{}
	for _, n := range names {
		sim, ok := Simulations[n]
		if !ok {
			return nil, fmt.Errorf("%w: unknown simulation %q (want one of %v)", ErrConfig, n, SimulationNames())
		}
		d, err := New(append(append([]Opt(nil), opts...), WithGroup(n), WithHandler(sim.Handler()))...)
		if err != nil {
			return nil, err
		}
		f.ds = append(f.ds, d)
	}
	return f, nil
}

// Run runs every service until ctx is done.
func (f *Fleet) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, d := range f.ds {
		g.Go(func() error { return d.Run(ctx) })
	}
	return g.Wait()
}

// Stats returns each service's counters by group.
func (f *Fleet) Stats() map[string]Stats {
	out := make(map[string]Stats, len(f.ds))
	for _, d := range f.ds {
		out[d.Group()] = d.Stats()
	}
	return out
}

// Dedup remembers recently seen idempotency keys (event ids) in a bounded
// window, for in-process handlers whose effect is not idempotent by
// itself. It is safe for concurrent use.
//
// Delivery is at least once: after a crash or rebalance a record may be
// handled again, and a retried record may have had its effect before its
// handler failed. A handler should make its effect idempotent keyed by
// Record.EventID (a unique constraint, a conditional write, the
// Idempotency-Key of a downstream API). Dedup covers the common case of
// redeliveries within the same process and a recent window; it forgets
// keys beyond its size and across restarts.
type Dedup struct {
	mu   sync.Mutex
	seen map[string]struct{}
	ring []string
	next int
}

// NewDedup remembers the last size keys (at least 1).
func NewDedup(size int) *Dedup {
	size = max(size, 1)
	return &Dedup{seen: make(map[string]struct{}, size), ring: make([]string, size)}
}

// Seen reports whether key was marked within the window.
func (d *Dedup) Seen(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.seen[key]
	return ok
}

// Mark remembers key, forgetting the oldest key when the window is full.
func (d *Dedup) Mark(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.seen[key]; ok {
		return
	}
	if old := d.ring[d.next]; old != "" {
		delete(d.seen, old)
	}
	d.ring[d.next] = key
	d.next = (d.next + 1) % len(d.ring)
	d.seen[key] = struct{}{}
}

// Wrap returns a handler that skips records whose idempotency key was
// handled successfully within the window and marks a key after h succeeds.
func (d *Dedup) Wrap(h Handler) Handler {
	return func(ctx context.Context, r Record) error {
		k := r.IdempotencyKey()
		if d.Seen(k) {
			return nil
		}
		if err := h(ctx, r); err != nil {
			return err
		}
		d.Mark(k)
		return nil
	}
}
