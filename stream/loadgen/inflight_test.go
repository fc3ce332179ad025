package loadgen

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/surgeio/surge/schemas"
)

// holder is a Sender that keeps every done until released.
type holder struct {
	mu       sync.Mutex
	held     []func(error)
	inFlight atomic.Int64
	peak     atomic.Int64
	handed   atomic.Int64
}

func (h *holder) send(_ context.Context, _ schemas.Record, done func(error)) {
	n := h.inFlight.Add(1)
	for {
		p := h.peak.Load()
		if n <= p || h.peak.CompareAndSwap(p, n) {
			break
		}
	}
	h.handed.Add(1)
	h.mu.Lock()
	h.held = append(h.held, done)
	h.mu.Unlock()
}

// release calls the held dones with err.
func (h *holder) release(err error) int {
	h.mu.Lock()
	held := h.held
	h.held = nil
	h.mu.Unlock()
	for _, done := range held {
		h.inFlight.Add(-1)
		done(err)
	}
	return len(held)
}

// waitFor polls cond for up to 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestMaxInFlight(t *testing.T) {
	const limit = 50
	h := &holder{}
	g, err := New(Config{Seed: 1, MaxRecords: 500, MaxInFlight: limit}, h.send)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	type result struct {
		st  *Stats
		err error
	}
	res := make(chan result, 1)
	go func() {
		st, err := g.Run(context.Background())
		res <- result{st, err}
	}()

	waitFor(t, "the first 50 records", func() bool { return h.handed.Load() == limit })
	time.Sleep(50 * time.Millisecond) // room to overrun the bound, if it could
	if got := h.handed.Load(); got != limit {
		t.Fatalf("handed out %d records with none done, want MaxInFlight %d", got, limit)
	}
	select {
	case r := <-res:
		t.Fatalf("Run returned %v, %v with records in flight", r.st, r.err)
	default:
	}

	// Release in rounds until the run ends: every round frees the window again.
	var r result
	for done := false; !done; {
		h.release(nil)
		select {
		case r = <-res:
			done = true
		case <-time.After(time.Millisecond):
		}
	}
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
	if got, want := h.peak.Load(), int64(limit); got != want {
		t.Errorf("peak in flight = %d, want %d", got, want)
	}
	if r.st.Records != 500 || r.st.Acked != 500 {
		t.Errorf("Records %d Acked %d, want 500 each", r.st.Records, r.st.Acked)
	}
}

func TestCancelStopsPromptly(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"unpaced", Config{Seed: 1}},
		{"paced", Config{Seed: 1, Rate: 5000, Duration: time.Hour}},
		{"blocked on MaxInFlight", Config{Seed: 1, MaxInFlight: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &holder{}
			g, err := New(tt.cfg, h.send)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			// Acks come back 20ms late from a goroutine the test owns.
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						h.release(errors.New("client closed"))
						return
					case <-tick.C:
						h.release(nil)
					}
				}
			})
			defer func() { close(stop); wg.Wait() }()

			ctx, cancel := context.WithCancel(context.Background())
			type result struct {
				st  *Stats
				err error
			}
			res := make(chan result, 1)
			go func() {
				st, err := g.Run(ctx)
				res <- result{st, err}
			}()
			waitFor(t, "records to flow", func() bool { return h.handed.Load() >= 10 })
			cancel()
			cancelled := time.Now()
			var r result
			select {
			case r = <-res:
			case <-time.After(2 * time.Second):
				t.Fatal("Run did not return within 2s of cancel")
			}
			if took := time.Since(cancelled); took > 500*time.Millisecond {
				t.Errorf("Run returned %v after cancel, want under 500ms", took)
			}
			if !errors.Is(r.err, context.Canceled) {
				t.Errorf("Run error = %v, want context.Canceled", r.err)
			}
			if got := h.inFlight.Load(); got != 0 {
				t.Errorf("%d records still in flight after Run returned, want 0", got)
			}
			if r.st.Acked+r.st.Failed != r.st.Records || r.st.Records != h.handed.Load() {
				t.Errorf("Records %d Acked %d Failed %d handed %d, want Acked+Failed = Records = handed",
					r.st.Records, r.st.Acked, r.st.Failed, h.handed.Load())
			}
			if _, err := g.Run(context.Background()); !errors.Is(err, ErrAlreadyRun) {
				t.Errorf("second Run error = %v, want ErrAlreadyRun", err)
			}
		})
	}
}
