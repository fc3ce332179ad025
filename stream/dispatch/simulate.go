package dispatch

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"
)

// Simulation describes a simulated downstream service: log-normal latency
// with the given median and 99th percentile, and a failure rate of
// retryable errors (plus a rate of permanent ones).
type Simulation struct {
	Median        time.Duration `json:"median"`
	P99           time.Duration `json:"p99"`
	FailRate      float64       `json:"fail_rate"`
	PermanentRate float64       `json:"permanent_rate"`
}

// Simulations are the built-in demo services.
var Simulations = map[string]Simulation{
	"inventory": {Median: 5 * time.Millisecond, P99: 40 * time.Millisecond, FailRate: 0.005},
	"payment":   {Median: 40 * time.Millisecond, P99: 400 * time.Millisecond, FailRate: 0.03, PermanentRate: 0.001},
	"notify":    {Median: 15 * time.Millisecond, P99: 120 * time.Millisecond, FailRate: 0.01},
}

// SimulationNames lists the built-in simulations, sorted.
func SimulationNames() []string {
	var out []string
	for n := range Simulations {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ErrSimulated is the error a simulated service fails with.
var ErrSimulated = errors.New("simulated service failure")

// Handler returns a handler that sleeps a random latency and fails at the
// simulation's rates.
func (s Simulation) Handler() Handler {
	mu := math.Log(float64(max(s.Median, time.Microsecond)))
	sigma := 0.0
	if s.P99 > s.Median {
		sigma = (math.Log(float64(s.P99)) - mu) / 2.326 // z of the 99th percentile
	}
	return func(ctx context.Context, r Record) error {
		d := time.Duration(math.Exp(mu + sigma*rand.NormFloat64()))
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		x := rand.Float64()
		switch {
		case x < s.PermanentRate:
			return Permanent(fmt.Errorf("%w: rejected event %s", ErrSimulated, r.EventID))
		case x < s.PermanentRate+s.FailRate:
			return fmt.Errorf("%w: event %s", ErrSimulated, r.EventID)
		}
		return nil
	}
}
