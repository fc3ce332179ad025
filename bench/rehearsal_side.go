package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/control"
	"github.com/surgeio/surge/stream/dispatch"
)

// rhSide is one side of the rehearsal: a dispatcher with bounds on its
// handlers in flight, the open-loop load, and optionally a resize.
type rhSide struct {
	name         string // topic prefix and group, "rehearsal-a"
	label        string // for the table
	from         int32  // partitions at the start
	resizeTo     int32  // 0: no resize
	total, perP  int    // WithMaxInFlight
	rate         float64
	warmUp       time.Duration // not measured: group join, queues filling
	before       time.Duration // measured before the resize (the whole window without one)
	after        time.Duration // measured once latency is back under rhThreshold
	recoverLimit time.Duration // give up waiting for that after this long
}

// rhPhase is one measured window of a side.
type rhPhase struct {
	name string
	w    rhWindow
}

// rhResize is what the resize did and when, from its start.
type rhResize struct {
	plan       time.Duration // Plan (key sample, groups, producers)
	apply      time.Duration // Apply: begin record to barrier
	steps      []string      // Apply's progress with times
	moved      float64       // share of keys that move
	missing    []string      // producers that did not switch
	recovered  time.Duration // until the p99 of records sent was back under the threshold
	recoveredO bool
	firstNew   time.Duration // until the first record on a new partition was handled
}

// rhResult is one side's measurements.
type rhResult struct {
	side    rhSide
	phases  []rhPhase
	out     rhOutcome
	resize  *rhResize
	dispErr error
}

// runRHSide runs one side on a broker of its own.
func runRHSide(ctx context.Context, e *env, s rhSide, users []string) (*rhResult, error) {
	res := &rhResult{side: s}
	b, err := startBroker(ctx, e)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	addrs := b.Addrs()
	kc, err := rawClient(addrs, "bench-"+s.name)
	if err != nil {
		return nil, err
	}
	defer kc.Close()
	topics := topicsNamed(s.name)
	if err := ensureTopics(ctx, kc, topics, int(s.from)); err != nil {
		return nil, err
	}
	cc := stream.ClientConfig{Brokers: addrs, Logger: e.log}

	t0 := time.Now()
	tr := newRHTracker(len(users), t0)
	var firstNew atomic.Int64
	handler := func(ctx context.Context, r dispatch.Record) error {
		n, ok := rhIndex(r.EventID)
		if !ok {
			return nil
		}
		tr.begin(n, time.Now())
		t := time.NewTimer(dispatchHandlerLatency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			tr.end(n, false, time.Now())
			return ctx.Err()
		}
		now := time.Now()
		tr.end(n, true, now)
		if s.resizeTo > 0 && r.Partition >= s.from {
			firstNew.CompareAndSwap(0, now.UnixNano())
		}
		return nil
	}
	d, err := dispatch.New(
		dispatch.WithClient(cc),
		dispatch.WithGroup(s.name),
		dispatch.WithTopics([]string{topics.Orders}),
		dispatch.WithDeadLetterTopic(topics.DeadLetters),
		dispatch.WithMaxInFlight(s.total, s.perP),
		dispatch.WithLogger(e.log),
		dispatch.WithHandler(handler),
	)
	if err != nil {
		return nil, err
	}
	dctx, cancelDispatch := context.WithCancel(ctx)
	derr := make(chan error, 1)
	go func() { derr <- d.Run(dctx) }() // ended by stopDispatch
	dispatchEnded := false
	stopDispatch := func() error {
		if dispatchEnded {
			return nil
		}
		dispatchEnded = true
		cancelDispatch()
		return <-derr
	}
	defer stopDispatch()

	p, err := stream.NewProducer(stream.WithBrokers(addrs...), stream.WithTopics(topics), stream.WithLogger(e.log),
		stream.WithClientID("bench-"+s.name))
	if err != nil {
		return nil, err
	}
	defer p.Close()
	joinResizes(ctx, p, e.log)

	// The open-loop load: record n is due at n/rate after the start and
	// is handed to the producer when due, whatever happens downstream.
	load := newRHLoad(3, users, s.name+"-")
	stopLoad := make(chan struct{})
	var loadWG sync.WaitGroup
	loadWG.Add(1)
	go func() { // ended by closing stopLoad
		defer loadWG.Done()
		start, n := time.Now(), 0
		for {
			select {
			case <-stopLoad:
				return
			default:
			}
			now := time.Now()
			for due := int(now.Sub(start).Seconds() * s.rate); n < due; n++ {
				rec, user := load.next(n, now)
				tr.sent(n, user, now)
				i := n
				p.ProduceAsync(ctx, rec, func(a stream.Ack, err error) { tr.acked(i, a.Partition, err) })
			}
			time.Sleep(time.Millisecond)
		}
	}()
	loadStopped := false
	endLoad := func() {
		if !loadStopped {
			loadStopped = true
			close(stopLoad)
			loadWG.Wait()
		}
	}
	defer endLoad()

	sleep := func(dur time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-derr:
			dispatchEnded = true
			return fmt.Errorf("dispatcher stopped: %v", err)
		case <-time.After(dur):
			return nil
		}
	}
	if err := sleep(s.warmUp); err != nil {
		return nil, err
	}
	measureFrom := tr.since(time.Now())
	if err := sleep(s.before); err != nil {
		return nil, err
	}
	now := tr.since(time.Now())
	res.phases = append(res.phases, rhPhase{name: fmt.Sprintf("steady, no resize (%d partitions)", s.from)})
	var resizeAt, afterFrom time.Duration
	if s.resizeTo > 0 {
		res.phases[0].name = fmt.Sprintf("before (%d partitions)", s.from)
		resizeAt = now
		e.printf("%s: resizing %s from %d to %d partitions while the load goes on", s.label, topics.Orders, s.from, s.resizeTo)
		rz, err := rhResizeTopic(ctx, e, cc, topics.Orders, s.resizeTo)
		if err != nil {
			return nil, err
		}
		res.resize = rz
		// Wait until the records sent over the last second were handled
		// within the threshold (p99), then measure "after".
		deadline := time.Now().Add(s.recoverLimit)
		for !tr.latencyOK(time.Now(), time.Second, rhThreshold) && time.Now().Before(deadline) {
			if err := sleep(250 * time.Millisecond); err != nil {
				return nil, err
			}
		}
		afterFrom = tr.since(time.Now())
		if err := sleep(s.after); err != nil {
			return nil, err
		}
		now = tr.since(time.Now())
	}
	endLoad()
	if err := p.Flush(ctx); err != nil {
		return nil, err
	}
	// Drain: every record written is handled, or 30s pass.
	for deadline := time.Now().Add(30 * time.Second); tr.pending() > 0 && time.Now().Before(deadline); {
		if err := sleep(100 * time.Millisecond); err != nil {
			return nil, err
		}
	}
	if err := stopDispatch(); err != nil && !errors.Is(err, context.Canceled) {
		res.dispErr = err
	}

	if s.resizeTo == 0 {
		res.phases[0].w = tr.window(measureFrom, now)
	} else {
		res.phases[0].w = tr.window(measureFrom, resizeAt)
		res.phases = append(res.phases,
			rhPhase{name: "during the resize", w: tr.window(resizeAt, afterFrom)},
			rhPhase{name: fmt.Sprintf("after (%d partitions)", s.resizeTo), w: tr.window(afterFrom, now)})
		res.resize.recovered, res.resize.recoveredO = tr.recoveredAfter(resizeAt, now, 500*time.Millisecond, 2*time.Second, rhThreshold)
		res.resize.recovered -= resizeAt
		if f := firstNew.Load(); f != 0 {
			res.resize.firstNew = time.Unix(0, f).Sub(t0) - resizeAt
		}
	}
	res.out = tr.outcome(s.from)
	return res, nil
}

// rhResizeTopic grows topic to n partitions the way `surge topics resize`
// does: control.NewResizer, Plan (with its default key sample), Apply
// with the default switch timeout.
func rhResizeTopic(ctx context.Context, e *env, cc stream.ClientConfig, topic string, n int32) (*rhResize, error) {
	rz := &rhResize{}
	start := time.Now()
	z, err := control.NewResizer(ctx, "", cc.Opts(), e.log)
	if err != nil {
		return nil, fmt.Errorf("resizer: %w", err)
	}
	defer z.Close()
	plan, err := z.Plan(ctx, topic, n, false, 10_000)
	if err != nil {
		return nil, fmt.Errorf("plan resize: %w", err)
	}
	rz.plan = time.Since(start)
	rz.moved = plan.MovedShare
	for _, w := range plan.Warnings {
		e.printf("  resize plan warning: %s", w)
	}
	applyAt := time.Now()
	err = z.Apply(ctx, plan, control.DefaultSwitchTimeout, func(pr control.Progress) {
		rz.steps = append(rz.steps, fmt.Sprintf("%s at +%s", pr.Step, fmtMs(time.Since(start))))
		if pr.Step == "barrier" {
			rz.missing = pr.Missing
		}
	})
	if err != nil {
		return nil, fmt.Errorf("apply resize: %w", err)
	}
	rz.apply = time.Since(applyAt)
	e.printf("  resize done: plan %s, apply %s (%s)", fmtMs(rz.plan), fmtMs(rz.apply), strings.Join(rz.steps, ", "))
	return rz, nil
}
