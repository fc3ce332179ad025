package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/dispatch"
)

// Dispatch targets.
const (
	dispatchConcurrencyTarget = 20.0 // per-key concurrency over one-at-a-time per partition
	dispatchOverheadTarget    = 0.70 // no-op dispatch over raw franz-go consuming
	dispatchHandlerLatency    = 20 * time.Millisecond
	dispatchKeys              = 10_000
)

// runDispatch measures stream/dispatch twice against baselines on one
// broker: with 20 ms handlers over 8 partitions and 10k keys, per-key
// concurrency against a plain consumer group handling each partition one
// record at a time; and with a no-op handler, the dispatcher's records/s
// against raw franz-go consuming the same topic.
func runDispatch(ctx context.Context, e *env) (*section, error) {
	slowN, noopN, baseFor := 40_000, 1_000_000, 10*time.Second
	if e.cfg.quick {
		slowN, noopN, baseFor = 15_000, 300_000, 4*time.Second
	}
	b, err := startBroker(ctx, e)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	addrs := b.Addrs()
	kc, err := rawClient(addrs, "bench-dispatch")
	if err != nil {
		return nil, err
	}
	defer kc.Close()
	fill := func(topic string, n int) error {
		t := stream.Topics{Orders: topic, DeadLetters: topic + "-dl"}
		if err := ensureTopics(ctx, kc, t, e.cfg.partitions); err != nil {
			return err
		}
		var wg sync.WaitGroup
		var ferr atomic.Value
		for i := range n {
			k := fmt.Sprintf("u-%05d", i%dispatchKeys)
			v, _ := schemas.Encode(benchOrder(i, k)) // valid: the dispatcher dead-letters invalid records
			wg.Add(1)
			kc.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(k), Value: v}, func(_ *kgo.Record, err error) {
				if err != nil {
					ferr.Store(err)
				}
				wg.Done()
			})
		}
		wg.Wait()
		if err, _ := ferr.Load().(error); err != nil {
			return fmt.Errorf("pre-fill %s: %w", topic, err)
		}
		return nil
	}
	slow := func(ctx context.Context, _ dispatch.Record) error {
		select {
		case <-time.After(dispatchHandlerLatency):
		case <-ctx.Done():
		}
		return nil
	}

	// 1. 20 ms handlers: one-at-a-time per partition vs per-key concurrency.
	if err := fill("slow", slowN); err != nil {
		return nil, err
	}
	baseRate, err := timeSerialGroup(ctx, addrs, "slow", baseFor)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	e.printf("one at a time per partition: %s records/s (%d partitions × 20 ms)", fmtRate(baseRate), e.cfg.partitions)
	concRate, err := timeDispatch(ctx, e, addrs, "slow", "bench-slow", slowN, slow, 4000, 1000, false)
	if err != nil {
		return nil, fmt.Errorf("dispatch 20ms: %w", err)
	}
	concRatio := concRate / baseRate
	e.printf("per-key concurrency: %s records/s, %.1f× the baseline", fmtRate(concRate), concRatio)

	// 2. No-op handler vs raw franz-go consuming.
	if err := fill("noop", noopN); err != nil {
		return nil, err
	}
	// Each side runs twice, alternately, and keeps its best: a run of well
	// under a second on a shared machine is easily slowed by a neighbour.
	noop := func(context.Context, dispatch.Record) error { return nil }
	var rawRate, noopRate, uncheckedRate float64
	for i := range 2 {
		r, err := timeRawConsume(ctx, addrs, "noop", fmt.Sprintf("bench-raw-%d", i), noopN)
		if err != nil {
			return nil, fmt.Errorf("raw consume: %w", err)
		}
		d, err := timeDispatch(ctx, e, addrs, "noop", fmt.Sprintf("bench-noop-%d", i), noopN, noop,
			dispatch.DefaultMaxInFlight, dispatch.DefaultMaxInFlightPartition, true)
		if err != nil {
			return nil, fmt.Errorf("dispatch no-op: %w", err)
		}
		u, err := timeDispatch(ctx, e, addrs, "noop", fmt.Sprintf("bench-unchecked-%d", i), noopN, noop,
			dispatch.DefaultMaxInFlight, dispatch.DefaultMaxInFlightPartition, true, dispatch.WithoutValidation())
		if err != nil {
			return nil, fmt.Errorf("dispatch no-op without validation: %w", err)
		}
		e.printf("no-op run %d: dispatch %s records/s (without validation %s), raw franz-go %s records/s", i+1, fmtRate(d), fmtRate(u), fmtRate(r))
		rawRate, noopRate, uncheckedRate = max(rawRate, r), max(noopRate, d), max(uncheckedRate, u)
	}
	overhead := noopRate / rawRate
	e.printf("no-op: dispatch %s records/s, raw franz-go %s records/s, ratio %.2f", fmtRate(noopRate), fmtRate(rawRate), overhead)

	metC, metO := concRatio >= dispatchConcurrencyTarget, overhead >= dispatchOverheadTarget
	sec := &section{
		Summary: fmt.Sprintf("dispatch: 20 ms handlers %s records/s vs %s one-at-a-time (%.1f×, target >= %.0f×)%s; no-op %s vs raw franz-go %s records/s (%.2f, target >= %.2f)%s",
			fmtRate(concRate), fmtRate(baseRate), concRatio, dispatchConcurrencyTarget, verdict(metC),
			fmtRate(noopRate), fmtRate(rawRate), overhead, dispatchOverheadTarget, verdict(metO)),
		Targets: []target{
			{Goal: fmt.Sprintf("per-key concurrency >= %.0f× one-at-a-time per partition (20 ms handlers)", dispatchConcurrencyTarget),
				Result: fmt.Sprintf("%.1f× (%s vs %s records/s)", concRatio, fmtRate(concRate), fmtRate(baseRate)), Met: metC},
			{Goal: fmt.Sprintf("no-op dispatch >= %.2f × raw franz-go consuming", dispatchOverheadTarget),
				Result: fmt.Sprintf("%.2f (%s vs %s records/s)", overhead, fmtRate(noopRate), fmtRate(rawRate)), Met: metO},
		},
	}
	var body strings.Builder
	body.WriteString(mdTable([]string{"side", "records", "records/s"}, [][]string{
		{"one at a time per partition (plain consumer group), 20 ms", fmt.Sprintf("%s in %s", "timed", baseFor), fmtRate(baseRate)},
		{"surge dispatch, per-key concurrency, 20 ms", fmtCount(int64(slowN)), fmtRate(concRate)},
		{"raw franz-go consuming (group, no work)", fmtCount(int64(noopN)), fmtRate(rawRate)},
		{"surge dispatch, no-op handler", fmtCount(int64(noopN)), fmtRate(noopRate)},
		{"surge dispatch, no-op handler, WithoutValidation (no schemas check)", fmtCount(int64(noopN)), fmtRate(uncheckedRate)},
	}))
	fmt.Fprintf(&body, `
Topics of %d partitions pre-filled with valid orders in canonical JSON (about 200 bytes)
keyed by %s distinct users, round robin. Every side is a fresh consumer group
on the same in-process broker, reading from the start. The no-op and raw
sides run twice each, alternately, and the best run of each counts.

- **one at a time per partition**: a franz-go group consumer with one
  goroutine per partition handling its records in order, one after another,
  each taking 20 ms; counted over %s. This is the plain consumer group that
  per-key ordering allows without per-key concurrency: it is bound to
  partitions / 20 ms = %.0f records/s.
- **surge dispatch, 20 ms**: stream/dispatch with up to 4,000 handlers in
  flight (1,000 per partition), one user's records strictly in order, offsets
  committed after done; timed from the first handler call to the last.
- **raw franz-go consuming**: a fresh group consumer polling until it has
  seen every record, doing nothing with them; timed from its creation to the
  last record, group join included (milliseconds on kfake); in quick mode
  most of its time is the broker building its first fetch response, which
  holds most of the topic.
- **surge dispatch, no-op**: stream/dispatch with default bounds (in
  flight, and 20,000 records buffered per lane) and a handler that
  returns nil at once: its overhead per record (checking the record with
  schemas before the handler, key queues, done tracking,
  the hand-off to its worker pool and back in batches, commits with their
  metadata every 200 ms); timed like the raw side, from Run to the last
  handler call (retry topic creation, group join and first fetch included).
  The dispatcher sizes its fetches to its lanes' buffers (about half a
  lane's worth of records per fetch, shared over the owned partitions), so
  its first records arrive after a small fetch rather than kgo's default
  50 MiB one.
- **surge dispatch, no-op, WithoutValidation**: the same without the
  schemas check of every record (decode and validate, about 1 µs per order
  on this machine, spread over the worker pool): the difference to the row
  above is what the check costs.
`, e.cfg.partitions, fmtCount(dispatchKeys), baseFor, float64(e.cfg.partitions)/dispatchHandlerLatency.Seconds())
	sec.Body = body.String()
	return sec, nil
}

// timeDispatch runs a dispatcher on topic until it handled n records and
// returns records/s to the last, timed from the first handler call, or
// from the start (Run) when fromStart.
func timeDispatch(ctx context.Context, e *env, addrs []string, topic, group string, n int, h dispatch.Handler, total, perPart int, fromStart bool, extra ...dispatch.Opt) (float64, error) {
	var done, first atomic.Int64
	finished := make(chan time.Time, 1)
	d, err := dispatch.New(append([]dispatch.Opt{
		dispatch.WithClient(stream.ClientConfig{Brokers: addrs, Logger: e.log}),
		dispatch.WithGroup(group),
		dispatch.WithTopics([]string{topic}),
		dispatch.WithDeadLetterTopic(topic + "-dl"),
		dispatch.WithMaxInFlight(total, perPart),
		dispatch.WithHandler(func(ctx context.Context, r dispatch.Record) error {
			if first.Load() == 0 {
				first.CompareAndSwap(0, time.Now().UnixNano())
			}
			err := h(ctx, r)
			if done.Add(1) == int64(n) {
				finished <- time.Now()
			}
			return err
		}),
	}, extra...)...)
	if err != nil {
		return 0, err
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	start := time.Now()
	go func() { errc <- d.Run(rctx) }()
	select {
	case end := <-finished:
		cancel()
		<-errc
		if fromStart {
			return rate(int64(n), end.Sub(start)), nil
		}
		return rate(int64(n), end.Sub(time.Unix(0, first.Load()))), nil
	case err := <-errc:
		return 0, fmt.Errorf("dispatcher stopped: %v", err)
	case <-time.After(5 * time.Minute):
		return 0, fmt.Errorf("handled %d of %d records in 5 minutes", done.Load(), n)
	}
}

// timeSerialGroup consumes topic in a group with one goroutine per
// partition handling one record at a time (20 ms each) for d, and returns
// records/s.
func timeSerialGroup(ctx context.Context, addrs []string, topic string, d time.Duration) (float64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumerGroup("bench-serial"), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var n atomic.Int64
	var started atomic.Int64
	queues := map[int32]chan *kgo.Record{}
	var wg sync.WaitGroup
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for {
		pctx, pcancel := context.WithTimeout(rctx, 100*time.Millisecond)
		fs := cl.PollRecords(pctx, 1000)
		pcancel()
		if rctx.Err() != nil {
			break
		}
		fs.EachRecord(func(r *kgo.Record) {
			started.CompareAndSwap(0, time.Now().UnixNano())
			q := queues[r.Partition]
			if q == nil {
				q = make(chan *kgo.Record, 100_000)
				queues[r.Partition] = q
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range q {
						select {
						case <-time.After(dispatchHandlerLatency):
							n.Add(1)
						case <-rctx.Done():
							return
						}
					}
				}()
			}
			q <- r
		})
		if s := started.Load(); s != 0 && time.Since(time.Unix(0, s)) >= d {
			break
		}
	}
	s := time.Unix(0, started.Load())
	got := n.Load()
	took := time.Since(s)
	cancel()
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	return rate(got, took), nil
}

// timeRawConsume consumes topic in a fresh group with raw franz-go until it
// saw n records and returns records/s from its start to the last record.
func timeRawConsume(ctx context.Context, addrs []string, topic, group string, n int) (float64, error) {
	start := time.Now()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	seen := 0
	for seen < n {
		fs := cl.PollRecords(ctx, 10_000)
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		seen += fs.NumRecords()
	}
	return rate(int64(n), time.Since(start)), nil
}

// benchOrder is a valid order (the dispatcher checks every record) in the
// canonical form surge's producers write, about 200 bytes.
func benchOrder(i int, user string) *schemas.Order {
	return &schemas.Order{EventID: fmt.Sprintf("e-%d", i), OrderID: fmt.Sprintf("o-%d", i), UserID: user,
		Items: []schemas.Item{{SKU: "tv-55", Qty: 1, UnitPrice: 1999}}, Amount: 1999, Currency: "EUR",
		CreatedAt: time.Date(2024, 11, 29, 8, 0, 0, 0, time.UTC)}
}
