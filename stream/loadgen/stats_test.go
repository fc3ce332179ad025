package loadgen

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/surgeio/surge/schemas"
)

// asyncAcker acks (or fails every failEvery-th record) from worker
// goroutines, out of hand-off order, like a client with many partitions.
type asyncAcker struct {
	rec  recorder
	ch   chan func()
	wg   sync.WaitGroup
	seed uint64
}

func newAsyncAcker(workers, failEvery int) *asyncAcker {
	a := &asyncAcker{rec: recorder{failEvery: failEvery}, ch: make(chan func(), 64)}
	for w := range workers {
		a.wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for f := range a.ch {
				if rng.IntN(50) == 0 {
					time.Sleep(50 * time.Microsecond)
				}
				f()
			}
		})
	}
	return a
}

func (a *asyncAcker) send(ctx context.Context, r schemas.Record, done func(error)) {
	a.ch <- func() { a.rec.send(ctx, r, done) }
}

// stop ends the workers; call it after Run.
func (a *asyncAcker) stop() {
	close(a.ch)
	a.wg.Wait()
}

func TestStatsMatchAckedRecords(t *testing.T) {
	campaigns := []Campaign{
		{ID: "bf", Currency: "USD", SKUs: 50, MinPrice: 100, MaxPrice: 10000, Weight: 2},
		{ID: "jp", Currency: "JPY", SKUs: 30, MinPrice: 100, MaxPrice: 30000, Weight: 1},
		{ID: "dormant", Currency: "EUR", SKUs: 10, MinPrice: 100, MaxPrice: 200, Weight: 0},
	}
	tests := []struct {
		name      string
		async     bool
		failEvery int
	}{
		{name: "sync acks"},
		{name: "sync, every 7th fails", failEvery: 7},
		{name: "async acks", async: true},
		{name: "async, every 7th fails", async: true, failEvery: 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 20000
			cfg := Config{Seed: 99, MaxRecords: n, Users: 3000, Campaigns: campaigns, MaxInFlight: 100}
			var rec *recorder
			var send Sender
			var a *asyncAcker
			if tt.async {
				a = newAsyncAcker(4, tt.failEvery)
				rec, send = &a.rec, a.send
			} else {
				rec = &recorder{failEvery: tt.failEvery}
				send = rec.send
			}
			g, err := New(cfg, send)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			st, err := g.Run(context.Background())
			if a != nil {
				a.stop()
			}
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if got, want := st.Records, int64(n); got != want {
				t.Errorf("Stats.Records = %d, want %d", got, want)
			}
			if got, want := st.Failed, int64(len(rec.failed)); got != want {
				t.Errorf("Stats.Failed = %d, want %d", got, want)
			}
			if got, want := st.Acked+st.Failed, st.Records; got != want {
				t.Errorf("Acked+Failed = %d, want Records %d", got, want)
			}
			if st.Seed != 99 {
				t.Errorf("Stats.Seed = %d, want 99", st.Seed)
			}
			checkStats(t, st, rec.acked, campaigns)
			if tt.failEvery > 0 {
				failedOrders := 0
				for _, r := range rec.failed {
					if r.Kind() == schemas.KindOrder {
						failedOrders++
					}
				}
				if failedOrders == 0 {
					t.Errorf("no order failed, so the test does not show failed orders are left out")
				}
			}
			if st.Campaigns["bf"].Orders == 0 || st.Campaigns["jp"].Orders == 0 {
				t.Errorf("campaign orders = %+v, %+v, want some in each", *st.Campaigns["bf"], *st.Campaigns["jp"])
			}
			if got := *st.Campaigns["dormant"]; got != (CampaignStats{Currency: "EUR"}) {
				t.Errorf("zero-weight campaign stats = %+v, want none", got)
			}
			if st.LatencyP50 > st.LatencyP99 || st.LatencyP99 > st.LatencyP999 {
				t.Errorf("latency quantiles %v, %v, %v, want ascending", st.LatencyP50, st.LatencyP99, st.LatencyP999)
			}
		})
	}
}

func TestProgress(t *testing.T) {
	var (
		mu    sync.Mutex
		calls []Progress
	)
	cfg := Config{
		Seed: 1, Rate: 4000, Duration: 700 * time.Millisecond, Shape: ShapeSteady,
		OnProgress: func(p Progress) {
			mu.Lock()
			calls = append(calls, p)
			mu.Unlock()
		},
	}
	a := newAsyncAcker(2, 0)
	g, err := New(cfg, a.send)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	st, err := g.Run(context.Background())
	a.stop()
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) < 3 {
		t.Fatalf("OnProgress called %d times in 700ms, want at least 3", len(calls))
	}
	for i := 1; i < len(calls); i++ {
		if calls[i].Sent < calls[i-1].Sent || calls[i].Elapsed < calls[i-1].Elapsed {
			t.Errorf("progress %d went back: %+v after %+v", i, calls[i], calls[i-1])
		}
	}
	last := calls[len(calls)-1]
	if last.Sent != st.Records || last.Acked != st.Acked || last.Failed != st.Failed {
		t.Errorf("last progress %+v, want the final counts %d/%d/%d", last, st.Records, st.Acked, st.Failed)
	}
	mid := calls[1]
	if mid.TargetRate != 4000 {
		t.Errorf("progress TargetRate = %v, want 4000", mid.TargetRate)
	}
	// The pacer catches up at most 100ms of lost time, so no 250ms window
	// runs at more than about 1.4× the target; a busy machine can make a
	// window slower, so there is no lower bound.
	for i, c := range calls[:len(calls)-1] {
		if c.Rate > 2*4000 {
			t.Errorf("progress %d Rate = %.0f, want at most twice the target 4000", i, c.Rate)
		}
	}
	withLatency := 0
	for i, c := range calls {
		if c.P99 < c.P50 {
			t.Errorf("progress %d P50 %v > P99 %v", i, c.P50, c.P99)
		}
		if c.P50 > 0 {
			withLatency++
		}
	}
	if withLatency == 0 {
		t.Errorf("no progress call reported an ack latency")
	}
}
