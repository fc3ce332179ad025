package dispatch

import (
	"context"
	"testing"
	"time"
)

// TestFenceLease: the lease holds from a confirmation for its length and
// no longer; a call that meets a lapsed lease asks for a heartbeat and
// waits for the next renewal, or gives up when its partition is dropped;
// the lapse is reported once per lapse, and not before the first
// confirmation.
func TestFenceLease(t *testing.T) {
	f := newFence(2*time.Second, 4*time.Second)
	if got, want := f.lease, 1600*time.Millisecond; got != want {
		t.Fatalf("lease %s, want %s (0.8 of the smaller of session and rebalance timeouts)", got, want)
	}
	lapses := 0
	f.onLapse = func() { lapses++ }

	now := time.Now()
	if f.holds(now) {
		t.Fatal("the lease holds before any confirmation")
	}
	done := make(chan bool, 2)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- f.wait(ctx) }()
	<-f.kick // the wait asked for a heartbeat
	cancel()
	if <-done {
		t.Fatal("wait returned true for a partition dropped while it waited")
	}
	if lapses != 0 {
		t.Fatalf("%d lapses reported before the first confirmation, want 0", lapses)
	}

	sent := now.Add(-100 * time.Millisecond)
	f.renew(sent)
	for _, c := range []struct {
		at   time.Duration
		want bool
	}{{0, true}, {f.lease - time.Millisecond, true}, {f.lease, false}, {time.Hour, false}} {
		if got := f.holds(sent.Add(c.at)); got != c.want {
			t.Errorf("holds %s after the confirmed heartbeat was sent: got %v, want %v", c.at, got, c.want)
		}
	}
	if !f.wait(context.Background()) {
		t.Fatal("wait returned false while the lease holds")
	}
	f.renew(sent.Add(-time.Hour)) // an older confirmation never shortens the lease
	if !f.holds(sent) {
		t.Fatal("an older confirmation shortened the lease")
	}

	// Lapsed: two calls wait; a renewal lets them go.
	lapse := func() { f.until.Store(int64(time.Since(f.epoch)) - 1) }
	lapse()
	if f.holds(time.Now()) {
		t.Fatal("the lease holds after it lapsed")
	}
	for range 2 {
		go func() { done <- f.wait(context.Background()) }()
	}
	<-f.kick
	select {
	case <-done:
		t.Fatal("a call went on while the lease had lapsed")
	case <-time.After(50 * time.Millisecond):
	}
	f.renew(time.Now())
	for range 2 {
		select {
		case ok := <-done:
			if !ok {
				t.Error("wait returned false after the renewal")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a waiting call did not go on after the renewal")
		}
	}
	if lapses != 1 {
		t.Errorf("%d lapses reported, want 1", lapses)
	}

	// Lapsed again: the waiting call gives up when its partition drops.
	select {
	case <-f.kick: // the second waiter's
	default:
	}
	lapse()
	ctx, cancel = context.WithCancel(context.Background())
	go func() { done <- f.wait(ctx) }()
	<-f.kick
	cancel()
	select {
	case ok := <-done:
		if ok {
			t.Error("wait returned true for a partition dropped while it waited")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a waiting call did not give up when its partition dropped")
	}
	if lapses != 2 {
		t.Errorf("%d lapses reported, want 2", lapses)
	}
}
