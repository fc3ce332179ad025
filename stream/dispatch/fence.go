package dispatch

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fence keeps an instance that was paused (SIGSTOP, a VM or container
// freeze, a long stall) or cut off past its session timeout from calling
// handlers for partitions the group has given to another member.
//
// It is a lease on group membership. The group coordinator removes a
// member, and gives its partitions to others, no sooner than the session
// timeout after the last heartbeat it accepted from it; a heartbeat it
// accepts outside a rebalance also means no rebalance had started, and one
// that starts later removes a member that does not rejoin no sooner than
// the rebalance timeout after it started. So once the coordinator accepted
// a heartbeat sent at T, this instance still owns its partitions until
// T + min(session, rebalance timeout). The lease runs to
// T + leaseShare of that, leaving the rest as margin for the call that
// starts at the lease's end; confirmLoop sends a heartbeat of its own
// (besides the client's) every lease/4, and at once when a call waits.
//
// A worker checks the lease (against the clock it read after its previous
// call) just before each handler call, and a writer before each retry or
// dead-letter write. While the lease has lapsed they wait, until a
// heartbeat is accepted (membership confirmed: the partitions are still
// this instance's) or their partition is dropped (the client learned that
// the partitions were lost, or revoked them): then the record is left to
// the new owner without a call, counted in stale_dropped_total. A paused
// instance resumes with its lease long lapsed, so the only calls it makes
// for lost partitions are those it had started before it stopped: at most
// WithMaxInFlight.
//
// Heartbeats answered REBALANCE_IN_PROGRESS do not renew the lease (the
// rebalance may have begun before the heartbeat was sent): a rebalance
// that waits longer than the lease's slack for a member (one that stopped
// without leaving, until its session expires) holds this instance's calls
// until it completes. That includes a rebalance waiting for this instance's
// own revoke while its handlers are slower than the lease's slack: the
// revoke's queued calls then wait for the lease, the revoke ends at
// WithRevokeTimeout, and the new owner redelivers those records.
type fence struct {
	epoch time.Time    // monotonic base of until
	until atomic.Int64 // the lease's end, ns since epoch; 0: never confirmed
	lease time.Duration
	every time.Duration

	mu      sync.Mutex
	renewed chan struct{} // closed and replaced at each renewal
	lapsed  bool          // a wait began since the last renewal (logged once)

	kick    chan struct{} // a call waits: confirm now
	onLapse func()        // called by the first wait after a renewal (none before the first)
}

// leaseShare is the share of min(session, rebalance timeout) the lease
// lasts after the heartbeat that renewed it was sent.
const leaseShare = 0.8

// minConfirmGap spaces the dispatcher's heartbeats; retryConfirm is how
// soon one follows a heartbeat not accepted while calls wait (a rebalance
// in progress, a member rejoining after it lost its partitions).
const (
	minConfirmGap = 20 * time.Millisecond
	retryConfirm  = 100 * time.Millisecond
)

func newFence(session, rebalance time.Duration) *fence {
	lease := time.Duration(float64(min(session, rebalance)) * leaseShare)
	return &fence{epoch: time.Now(), lease: lease, every: lease / 4,
		renewed: make(chan struct{}), kick: make(chan struct{}, 1)}
}

// holds reports whether the lease holds at now.
func (f *fence) holds(now time.Time) bool { return int64(now.Sub(f.epoch)) < f.until.Load() }

// renew extends the lease from sent, the time the accepted heartbeat was
// sent, and wakes the waiting calls.
func (f *fence) renew(sent time.Time) {
	end := int64(sent.Sub(f.epoch) + f.lease)
	for {
		old := f.until.Load()
		if end <= old || f.until.CompareAndSwap(old, end) {
			break
		}
	}
	f.mu.Lock()
	close(f.renewed)
	f.renewed = make(chan struct{})
	f.lapsed = false
	f.mu.Unlock()
}

// wait returns true at once while the lease holds and ctx is not done.
// Otherwise it asks for a heartbeat and waits until the lease is renewed
// (true) or ctx is done (false).
func (f *fence) wait(ctx context.Context) bool {
	for {
		if err := ctx.Err(); err != nil {
			return false
		}
		f.mu.Lock()
		renewed := f.renewed
		holds := f.holds(time.Now())
		first := !holds && !f.lapsed
		if first {
			f.lapsed = true
		}
		f.mu.Unlock()
		if holds {
			return true
		}
		if first && f.onLapse != nil && f.until.Load() != 0 {
			f.onLapse() // not before the first confirmation
		}
		select {
		case f.kick <- struct{}{}:
		default:
		}
		select {
		case <-renewed:
		case <-ctx.Done():
			return false
		}
	}
}

// confirmLoop renews the fence's lease with heartbeats of its own every
// lease/4 and when a call waits for it (again every retryConfirm while
// calls wait and the coordinator does not confirm), until ctx is done.
func (d *Dispatcher) confirmLoop(ctx context.Context) {
	f := d.fence
	timer := time.NewTimer(f.every)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-f.kick:
		}
		next := f.every
		if !d.confirm(ctx) && f.waiting() {
			next = retryConfirm
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(minConfirmGap):
		}
		timer.Reset(next - minConfirmGap)
	}
}

// waiting reports whether calls waited for the lease since it was last
// renewed.
func (f *fence) waiting() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lapsed
}

// confirm sends a heartbeat as the group member the client is now and
// renews the lease if the coordinator accepts it.
func (d *Dispatcher) confirm(ctx context.Context) bool {
	member, gen := d.cl.GroupMetadata()
	if member == "" || gen < 0 {
		return false // not in the group (yet): nothing is assigned
	}
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group = d.cfg.group
	req.MemberID = member
	req.Generation = gen
	sent := time.Now()
	rctx, cancel := context.WithTimeout(ctx, d.fence.lease)
	defer cancel()
	resp, err := req.RequestWith(rctx, d.cl)
	if err != nil || kerr.ErrorForCode(resp.ErrorCode) != nil {
		return false
	}
	d.fence.renew(sent)
	return true
}
