package loadgen

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Generator produces one run of load. Create it with New and call Run once.
type Generator struct {
	cfg   Config
	send  Sender
	seed  int64
	model *model
	c     *counters
	ran   atomic.Bool

	start   time.Time
	free    chan *slot // done slots, ready for reuse
	created int        // slots made so far, at most cfg.MaxInFlight
}

// slot carries one in-flight record's accounting from hand-off to done.
// There are at most MaxInFlight slots, which is what bounds the records in
// flight and the memory they hold.
type slot struct {
	g     *Generator
	busy  atomic.Bool   // between hand-off and done; drops a repeated done
	start time.Duration // hand-off time since g.start
	meta  recMeta
	done  func(error)
}

// New validates cfg, fills in its defaults and builds the population and the
// campaign catalogs. Errors wrap ErrInvalidConfig and name the field.
func New(cfg Config, send Sender) (*Generator, error) {
	if send == nil {
		return nil, invalid("Sender is nil")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	seed := cfg.Seed
	for seed == 0 {
		seed = rand.Int64()
	}
	m := newModel(uint64(seed), cfg.Users, cfg.VIPShare, cfg.Campaigns)
	m.wallet, m.redeem = cfg.Wallet, cfg.RedeemShare
	return &Generator{
		cfg:   cfg,
		send:  send,
		seed:  seed,
		model: m,
		c:     newCounters(len(cfg.Campaigns), cfg.Users),
		free:  make(chan *slot, cfg.MaxInFlight),
	}, nil
}

// Seed is the seed of the record sequence: Config.Seed, or the random one
// New picked when it was 0.
func (g *Generator) Seed() int64 { return g.seed }

// Config is the configuration in force, defaults filled in.
func (g *Generator) Config() Config { return g.cfg }

// Run generates records and hands them to the sender until Duration or
// MaxRecords is reached or ctx is done, then waits until every handed-out
// record is done (acked or failed) and returns the run's stats. The stats are
// non-nil whenever the run took place; the error is nil when the run reached
// its end and ctx.Err() when ctx ended it first. Run waits for the sender to call done for every record,
// however long that takes, and returns only after its progress goroutine has
// made its last OnProgress call. A second call returns ErrAlreadyRun.
func (g *Generator) Run(ctx context.Context) (*Stats, error) {
	if !g.ran.CompareAndSwap(false, true) {
		return nil, ErrAlreadyRun
	}
	g.start = time.Now()

	var wg sync.WaitGroup
	stopProgress := make(chan struct{})
	if g.cfg.OnProgress != nil {
		wg.Go(func() { g.progress(stopProgress) })
	}

	err := g.generate(ctx)
	for range g.created {
		<-g.free
	}
	elapsed := time.Since(g.start)

	close(stopProgress)
	wg.Wait()
	return g.c.stats(g.seed, g.model.cats, elapsed), err
}

// generate is the producing loop: pace a batch, then generate and hand out
// its records, each after taking a free slot.
func (g *Generator) generate(ctx context.Context) error {
	p := newPacer(g.cfg.Shape, g.cfg.Rate, g.cfg.Duration, g.start)
	defer p.stop()
	var deadline time.Time
	if g.cfg.Duration > 0 {
		deadline = g.start.Add(g.cfg.Duration)
	}
	limit := g.cfg.MaxRecords
	var sent int64
	for {
		if limit > 0 && sent >= limit {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return nil
		}
		n, err := p.next(ctx, deadline)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if limit > 0 {
			n = int(min(int64(n), limit-sent))
		}
		for range n {
			s, err := g.acquire(ctx)
			if err != nil {
				return err
			}
			now := time.Now()
			rec := g.model.next(now.UTC(), &s.meta)
			s.start = now.Sub(g.start)
			s.busy.Store(true)
			g.c.sent.Add(1)
			sent++
			g.send(ctx, rec, s.done)
		}
	}
}

// acquire takes a free slot, making one while fewer than MaxInFlight exist,
// and otherwise waits for a record to be done.
func (g *Generator) acquire(ctx context.Context) (*slot, error) {
	select {
	case s := <-g.free:
		return s, nil
	default:
	}
	if g.created < g.cfg.MaxInFlight {
		g.created++
		s := &slot{g: g}
		s.done = s.complete
		return s, nil
	}
	select {
	case s := <-g.free:
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// complete is a slot's done callback.
func (s *slot) complete(err error) {
	if !s.busy.CompareAndSwap(true, false) {
		return // a repeated done: the sender broke its contract
	}
	g := s.g
	g.c.done(&s.meta, time.Since(g.start)-s.start, err)
	g.free <- s
}
