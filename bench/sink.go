package main

import (
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/broker"
	"github.com/surgeio/surge/stream/sink"
)

// Sink targets.
const (
	sinkTargetRatio = 2.0     // surge rows/s over the Kafka engine's
	sinkTargetRate  = 300_000 // surge rows/s
	sinkDedupShare  = 0.85    // surge rows/s with event_id dedup over without it
)

// drainStall is how long a drain may make no progress before it fails.
const drainStall = 60 * time.Second

// surgeCountQuery counts every row the sink writes for the pre-filled
// topics.
const surgeCountQuery = "SELECT (SELECT count() FROM user_events) + (SELECT count() FROM orders) + " +
	"(SELECT count() FROM order_status) + (SELECT count() FROM sink_rejects) + (SELECT count() FROM sink_duplicates)"

// runSink pre-fills the topics, then times surge's sink draining all of
// them into ClickHouse, and ClickHouse's own Kafka engine draining the
// user-events topic, on the same broker and server: surge once, the engine
// once per setting, then both again in turns with the engine's best
// setting, and reports the medians.
func runSink(ctx context.Context, e *env) (*section, error) {
	f, err := startSinkFixture(ctx, e, analytics.WithKafkaEarliest())
	if err != nil {
		return nil, err
	}
	defer f.close()
	n, b, ch, topics := f.n, f.b, f.ch, f.topics
	events, orders, eventBytes := f.events, f.orders, f.eventBytes

	var (
		surgeRuns  []surgeSinkResult // event_id dedup on (the default)
		plainRuns  []surgeSinkResult // dedup off
		engineRuns []engineResult
	)
	runSurge1 := func(dedup bool) error {
		ch.waitMergesIdle(ctx, time.Minute)
		r, err := timeSurgeSink(ctx, e, ch, b.Addrs(), uint64(n), len(surgeRuns)+len(plainRuns)+1, dedup)
		if err != nil {
			return fmt.Errorf("surge sink (dedup %v): %w", dedup, err)
		}
		e.printf("surge sink, dedup %s: %s rows in %.2fs: %s rows/s (steady %s); %d batches, %d retried, %d duplicates; CPU: bench process %.1fs, clickhouse-server %.1fs",
			onOff(dedup), fmtCount(int64(r.drain.final)), r.drain.took.Seconds(), fmtRate(r.drain.rate()),
			fmtRateOrNA(r.drain.steadyRate()), r.stats.Batches, r.stats.Retries, r.stats.Duplicates, r.goCPU.Seconds(), r.chCPU.Seconds())
		if e.cfg.verbose {
			e.printf("  counts: %s", r.drain)
		}
		if dedup {
			surgeRuns = append(surgeRuns, r)
		} else {
			plainRuns = append(plainRuns, r)
		}
		return nil
	}
	// One round is dedup on and off, in alternating order, after a drain
	// that is not counted: the first drain after the pre-fill or an engine
	// run is 15 to 40% slower whichever mode it is, which would favour the
	// mode that goes second. The first measured drain of a round is still
	// the slower one, so the rounds are even (sinkRounds): each mode goes
	// first equally often.
	warmUps := 0
	runSurge := func() error {
		warmUps++
		ch.waitMergesIdle(ctx, time.Minute)
		w, err := timeSurgeSink(ctx, e, ch, b.Addrs(), uint64(n), 1000+warmUps, false)
		if err != nil {
			return fmt.Errorf("surge sink warm-up: %w", err)
		}
		e.printf("surge sink, warm-up drain (not counted): %s rows/s", fmtRate(w.drain.rate()))
		first := len(surgeRuns)%2 == 0
		if err := runSurge1(first); err != nil {
			return err
		}
		return runSurge1(!first)
	}
	runEngine := func(consumers, block int) (engineResult, error) {
		ch.waitMergesIdle(ctx, time.Minute)
		r, err := timeKafkaEngine(ctx, ch, b.Addrs()[0], topics.UserEvents, uint64(events), len(engineRuns)+1, consumers, block)
		if err != nil {
			return r, fmt.Errorf("kafka engine (consumers %d, block %d): %w", consumers, block, err)
		}
		e.printf("kafka engine, kafka_num_consumers=%d kafka_max_block_size=%d: %s rows in %.2fs: %s rows/s (steady %s); CPU: bench process %.1fs, clickhouse-server %.1fs",
			consumers, block, engineRows(r), r.drain.took.Seconds(), fmtRate(r.drain.rate()),
			fmtRateOrNA(r.steady()), r.goCPU.Seconds(), r.chCPU.Seconds())
		if e.cfg.verbose {
			e.printf("  counts: %s", r.drain)
		}
		engineRuns = append(engineRuns, r)
		return r, nil
	}

	if err := runSurge(); err != nil {
		return nil, err
	}
	// Every engine setting once; the best one (highest rows/s) is run again.
	var best engineResult
	for _, consumers := range e.cfg.engineConsumers {
		for _, block := range e.cfg.engineBlockSizes {
			r, err := runEngine(consumers, block)
			if err != nil {
				return nil, err
			}
			if best.index == 0 || r.drain.rate() > best.drain.rate() {
				best = r
			}
		}
	}
	for range sinkRounds(e.cfg.sinkRuns) - 1 {
		if err := runSurge(); err != nil {
			return nil, err
		}
		if _, err := runEngine(best.consumers, best.block); err != nil {
			return nil, err
		}
	}

	var sRates, sSteadies, pRates, eRates, eSteadies []float64
	for _, r := range surgeRuns {
		sRates, sSteadies = append(sRates, r.drain.rate()), append(sSteadies, r.drain.steadyRate())
	}
	for _, r := range plainRuns {
		pRates = append(pRates, r.drain.rate())
	}
	pRate := median(pRates)
	dedupShare := median(sRates) / pRate
	metDedup := dedupShare >= sinkDedupShare
	var dupRuns, jumpRuns int // the best setting's runs without a steady rate, by cause
	for _, r := range engineRuns {
		if r.consumers == best.consumers && r.block == best.block {
			eRates, eSteadies = append(eRates, r.drain.rate()), append(eSteadies, r.steady())
			switch {
			case r.dups > 0:
				dupRuns++
			case r.steady() == 0:
				jumpRuns++
			}
		}
	}
	sRate, eRate := median(sRates), median(eRates)
	sSteady, eSteady := medianKnown(sSteadies), medianKnown(eSteadies)
	ratio := sRate / eRate
	// The target is judged on the lower of the end-to-end and steady
	// ratios, so that neither side's start-up or tail decides it.
	judged := ratio
	var steadyText string
	switch {
	case sSteady == 0:
		steadyText = "n/a (every surge run reached 10% and 90% of its rows between two polls)"
	case eSteady == 0:
		steadyText = fmt.Sprintf("n/a (of the engine's %d runs at its best setting, %d wrote duplicates and %d reached 10%% and 90%% of its rows between two polls)",
			len(eSteadies), dupRuns, jumpRuns)
	}
	if sSteady > 0 && eSteady > 0 {
		steadyText = fmt.Sprintf("%.2f×", sSteady/eSteady)
		judged = min(ratio, sSteady/eSteady)
	}
	metRatio, metRate := judged >= sinkTargetRatio, sRate >= sinkTargetRate
	sec := &section{
		Summary: fmt.Sprintf("sink: surge %s rows/s (dedup on; off: %s rows/s, on/off %.2f, target >= %.2f%s), kafka-engine %s rows/s, ratio %.2fx, steady-state ratio %s (target >= %.0fx%s; surge target >= %s rows/s%s)",
			fmtRate(sRate), fmtRate(pRate), dedupShare, sinkDedupShare, verdict(metDedup),
			fmtRate(eRate), ratio, steadyText, sinkTargetRatio, verdict(metRatio), fmtRate(sinkTargetRate), verdict(metRate)),
		Targets: []target{
			{Goal: fmt.Sprintf("surge sink >= %.0f× the Kafka engine (lower of end-to-end and steady ratios)", sinkTargetRatio),
				Result: fmt.Sprintf("%.2f× end-to-end (%s vs %s rows/s), %s steady", ratio, fmtRate(sRate), fmtRate(eRate), steadyText),
				Met:    metRatio},
			{Goal: fmt.Sprintf("surge sink >= %s rows/s", fmtRate(sinkTargetRate)),
				Result: fmt.Sprintf("%s rows/s end-to-end (%s steady)", fmtRate(sRate), fmtRateOrNA(sSteady)), Met: metRate},
			{Goal: fmt.Sprintf("surge sink with event_id dedup (default) >= %.0f%% of its rate with dedup off", 100*sinkDedupShare),
				Result: fmt.Sprintf("%.0f%% (%s vs %s rows/s, medians)", 100*dedupShare, fmtRate(sRate), fmtRate(pRate)), Met: metDedup},
		},
	}

	var rows [][]string
	for i, r := range plainRuns {
		rows = append(rows, []string{fmt.Sprintf("surge sink, dedup off, run %d", i+1), "all three topics, WithDedupWindow(0)",
			fmtCount(int64(r.drain.final)), fmt.Sprintf("%.2f s", r.drain.took.Seconds()), fmtRate(r.drain.rate()),
			fmtRateOrNA(r.drain.steadyRate()), fmt.Sprintf("%.1f s + %.1f s", r.goCPU.Seconds(), r.chCPU.Seconds()),
			cpuPerRow(r.goCPU+r.chCPU, r.drain.final)})
	}
	rows = append(rows, []string{"**surge sink, dedup off, median**", "", "", "", "**" + fmtRate(pRate) + "**", "", "", ""})
	for i, r := range surgeRuns {
		rows = append(rows, []string{fmt.Sprintf("surge sink, dedup on, run %d", i+1), "all three topics, default 24h window",
			fmtCount(int64(r.drain.final)), fmt.Sprintf("%.2f s", r.drain.took.Seconds()), fmtRate(r.drain.rate()),
			fmtRateOrNA(r.drain.steadyRate()), fmt.Sprintf("%.1f s + %.1f s", r.goCPU.Seconds(), r.chCPU.Seconds()),
			cpuPerRow(r.goCPU+r.chCPU, r.drain.final)})
	}
	rows = append(rows, []string{"**surge sink, dedup on, median**", "", "", "", "**" + fmtRate(sRate) + "**", fmtRateOrNA(sSteady), "", ""})
	for _, r := range engineRuns {
		rows = append(rows, []string{fmt.Sprintf("Kafka engine, run %d", r.index),
			fmt.Sprintf("kafka_num_consumers=%d, kafka_max_block_size=%d", r.consumers, r.block),
			engineRows(r), fmt.Sprintf("%.2f s", r.drain.took.Seconds()),
			fmtRate(r.drain.rate()), fmtRateOrNA(r.steady()),
			fmt.Sprintf("%.1f s + %.1f s", r.goCPU.Seconds(), r.chCPU.Seconds()),
			cpuPerRow(r.goCPU+r.chCPU, r.rows)})
	}
	rows = append(rows, []string{"**Kafka engine, median of the best setting**",
		fmt.Sprintf("kafka_num_consumers=%d, kafka_max_block_size=%d", best.consumers, best.block), "", "",
		"**" + fmtRate(eRate) + "**", fmtRateOrNA(eSteady), "", ""})

	var body strings.Builder
	body.WriteString(mdTable([]string{"consumer", "settings", "rows", "time", "rows/s", "steady rows/s (10%→90%)",
		"CPU (bench process + clickhouse-server)", "CPU µs/row"}, rows))
	fmt.Fprintf(&body, `
Ratio of the median steady rates (10%%→90%% of the rows, start-up and tail
left out): %s. The target ratio is judged on the lower of the two ratios.
The best Kafka-engine setting (highest rows/s in its first run) was
kafka_num_consumers=%d, kafka_max_block_size=%d.

Method:

- The topics (%d partitions each) are pre-filled with raw franz-go with %s
  records generated with seed %d: %s user events (mean value %.0f bytes) on
  %s and %s orders and order status changes on %s.
- Order of runs: surge once, the Kafka engine once per setting, then %d
  more round(s) of surge and the engine's best setting in turns; medians
  over surge's runs and over the best setting's runs. Merges left by the
  previous run are waited out (system.merges empty, at most a minute) before
  each run.
- **surge sink**: each round runs it twice, with event_id de-duplication
  on (the default: claims written to sink_dedup_claims, copies to
  sink_duplicates) and off (WithDedupWindow(0)), in alternating order,
  after one drain with dedup off that is not counted (a warm-up: the
  first drain after the pre-fill or an engine run is slower whichever mode
  it is). The first measured drain of a round is still the slower one
  (10 to 20%% in this machine's runs), so the rounds are an even number and
  each mode goes first in half of them; the target compares the medians. Per run, a fresh database migrated like
  surge's and a fresh consumer group; sink.New with %s, started with Run; timed from
  Run until `+"`"+`%s`+"`"+` (polled every %s) reaches %s,
  i.e. every record of every topic is a row. It writes exactly once: a count
  above the number of records fails the run. Its inserts also feed the
  events_per_minute and orders_per_minute materialized views.
- **Kafka engine**: per run, a fresh database with user_events and
  events_per_minute created AS surge's tables, the events_per_minute
  materialized view, a Kafka table `+"`"+`ENGINE = Kafka SETTINGS kafka_broker_list,
  kafka_topic_list='%s', kafka_group_name, kafka_format='JSONEachRow',
  kafka_num_consumers, kafka_max_block_size`+"`"+` with a fresh group (the server
  runs with `+"`"+`<kafka><auto_offset_reset>smallest</auto_offset_reset></kafka>`+"`"+`),
  and a materialized view from it into user_events parsing ts with
  parseDateTimeBestEffort. Timed from the CREATE of that view (which starts
  consumption) until its user_events holds %s distinct event ids (polled
  as `+"`"+`SELECT count()`+"`"+`, then `+"`"+`uniqExact(event_id)`+"`"+` once the count is there).
  It consumes only the user-events topic, so its rows are user events only.
  The engine is at-least-once: rows it writes twice (after a rebalance
  between its consumers) are listed as duplicates; they do not count
  towards its rate, and a run with duplicates has no steady rate (its
  counts below the total include repeats).
- On 18.16 the engine makes rows visible in steps: its inserts are squashed
  to min_insert_block_size_rows (1,048,576) rows, or written when a
  stream_flush_interval_ms (7.5 s) read pass ends. Its steady rate is
  therefore coarse, and its end-to-end time includes the last pass.
- Shortcuts that favour the engine: 18.16 has no _topic/_partition/_offset
  virtual columns, so the provenance columns are constants, and ts_ms is
  whole seconds (the raw ts string cannot be referenced once the output
  column ts is aliased to its parsed value, and a subquery in the view fails
  with "There is no query" on 18.16).
- CPU: the bench process (sink, broker, polling; for the Kafka engine, the
  broker serving its fetches) and the clickhouse-server process, from
  getrusage and /proc/PID/stat, over each drain.
`,
		steadyText, best.consumers, best.block,
		e.cfg.partitions, fmtCount(int64(n)), benchSeed, fmtCount(events), eventBytes, topics.UserEvents,
		fmtCount(orders), topics.Orders,
		sinkRounds(e.cfg.sinkRuns)-1,
		sinkSettings(e.cfg), surgeCountQuery, countPoll, fmtCount(int64(n)),
		topics.UserEvents, fmtCount(events))
	sec.Body = body.String()
	return sec, nil
}

// sinkFixture is what the sink scenarios start from: a broker whose topics
// are pre-filled with n records, and a ClickHouse server.
type sinkFixture struct {
	n              int
	b              *broker.Broker
	ch             *clickhouse
	topics         stream.Topics
	events, orders int64   // user events; orders and status changes
	eventBytes     float64 // mean user event value
	close          func()
}

// startSinkFixture starts the broker and ClickHouse and pre-fills the
// topics (e.cfg.partitions each) with e.cfg.sinkRecords records of the
// bench's seed, produced with raw franz-go.
func startSinkFixture(ctx context.Context, e *env, opts ...analytics.LocalOpt) (f *sinkFixture, err error) {
	f = &sinkFixture{n: e.cfg.sinkRecords, topics: stream.DefaultTopics()}
	var closers []func()
	f.close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			f.close()
		}
	}()
	if f.b, err = startBroker(ctx, e); err != nil {
		return nil, err
	}
	closers = append(closers, func() { f.b.Close() })
	var closeCH func()
	if f.ch, closeCH, err = startScratchClickHouse(ctx, e, "sink", opts...); err != nil {
		return nil, err
	}
	closers = append(closers, closeCH)

	kc, err := rawClient(f.b.Addrs(), "bench-prefill")
	if err != nil {
		return nil, err
	}
	defer kc.Close()
	if err := ensureTopics(ctx, kc, f.topics, e.cfg.partitions); err != nil {
		return nil, err
	}
	load, err := encodeLoad(ctx, f.n)
	if err != nil {
		return nil, err
	}
	fillTook, err := produceRaw(ctx, kc, f.topics, load)
	if err != nil {
		return nil, fmt.Errorf("pre-fill: %w", err)
	}
	f.events = load.byKind[schemas.KindUserEvent]
	f.orders = load.byKind[schemas.KindOrder] + load.byKind[schemas.KindOrderStatus]
	f.eventBytes = load.avgBytes(schemas.KindUserEvent)
	e.printf("pre-filled %s records in %.1fs: %s user events (mean %.0f bytes) on %s, %s orders and status changes on %s",
		fmtCount(int64(f.n)), fillTook.Seconds(), fmtCount(f.events), f.eventBytes, f.topics.UserEvents,
		fmtCount(f.orders), f.topics.Orders)
	return f, nil
}

// medianKnown is the median of the positive values, or 0 when there are
// none.
func medianKnown(xs []float64) float64 {
	var known []float64
	for _, x := range xs {
		if x > 0 {
			known = append(known, x)
		}
	}
	return median(known)
}

// engineRows is the rows an engine run wrote, with its duplicates.
func engineRows(r engineResult) string {
	if r.dups > 0 {
		return fmt.Sprintf("%s (%s duplicates)", fmtCount(int64(r.rows)), fmtCount(int64(r.dups)))
	}
	return fmtCount(int64(r.rows))
}

func cpuPerRow(cpu time.Duration, rows uint64) string {
	if rows == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f", float64(cpu.Microseconds())/float64(rows))
}

func sinkSettings(c config) string {
	rows, interval := "its default batch rows", "its default batch interval"
	if c.sinkBatchRows > 0 {
		rows = fmt.Sprintf("WithBatchRows(%d)", c.sinkBatchRows)
	}
	if c.sinkBatchInterval > 0 {
		interval = fmt.Sprintf("WithBatchInterval(%s)", c.sinkBatchInterval)
	}
	return rows + " and " + interval
}

// batchIntervalText describes the sink's batch interval setting.
func batchIntervalText(d time.Duration) string {
	if d > 0 {
		return fmt.Sprintf("a batch interval of %s", d)
	}
	return "its default batch interval"
}

type surgeSinkResult struct {
	drain        drain
	stats        sink.Stats
	goCPU, chCPU time.Duration
}

// alongside is work run next to a timed sink (the campaign page's readers):
// it starts once the sink's database exists, before timing, and stop ends
// it after the drain.
type alongside func(ctx context.Context, conn *analytics.Conn, group string) (stop func(), err error)

// timeSurgeSink runs a sink on a fresh database and group until ClickHouse
// holds want rows, then stops it and drops the database. dedup keeps the
// sink's event_id dedup on; with, when given, runs alongside the sink for
// the whole drain.
func timeSurgeSink(ctx context.Context, e *env, ch *clickhouse, addrs []string, want uint64, run int, dedup bool, with ...alongside) (surgeSinkResult, error) {
	var res surgeSinkResult
	db := fmt.Sprintf("surge_sink_%d", run)
	conn, err := analytics.Open(ctx, analytics.Config{Addr: ch.srv.Addr(), Database: db})
	if err != nil {
		return res, err
	}
	defer func() {
		_ = ch.conn.DB().Exec(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+db)
		_ = conn.Close()
	}()
	if _, err := conn.Migrate(ctx); err != nil {
		return res, err
	}
	group := fmt.Sprintf("bench-sink-%d", run)
	for _, w := range with {
		stop, err := w(ctx, conn, group)
		if err != nil {
			return res, err
		}
		defer stop()
	}
	opts := []sink.Opt{
		sink.WithClient(stream.ClientConfig{Brokers: addrs, ClientID: "bench-sink", Logger: e.log}),
		sink.WithGroup(group),
		sink.WithLogger(e.log),
	}
	if !dedup {
		opts = append(opts, sink.WithDedupWindow(0))
	}
	if e.cfg.sinkBatchRows > 0 {
		opts = append(opts, sink.WithBatchRows(e.cfg.sinkBatchRows))
	}
	if e.cfg.sinkBatchInterval > 0 {
		opts = append(opts, sink.WithBatchInterval(e.cfg.sinkBatchInterval))
	}
	cpu0, ch0 := processCPU(), ch.serverCPU()
	start := time.Now()
	var r *sinkRunner
	// The label splits a -cpuprofile between the sides.
	pprof.Do(ctx, pprof.Labels("sink_dedup", onOff(dedup), "sink_run", strconv.Itoa(run)), func(ctx context.Context) {
		r, err = startSink(ctx, conn, opts...)
	})
	if err != nil {
		return res, err
	}
	res.drain, err = watchCount(ctx, countQuery(conn, surgeCountQuery), want, start, true, drainStall, r.failed)
	res.goCPU, res.chCPU = processCPU()-cpu0, ch.serverCPU()-ch0
	res.stats = r.s.Stats()
	if serr := r.stop(); err == nil && serr != nil {
		err = serr
	}
	return res, err
}

// sinkRunner is a sink running in its own goroutine.
type sinkRunner struct {
	s      *sink.Sink
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func startSink(ctx context.Context, conn *analytics.Conn, opts ...sink.Opt) (*sinkRunner, error) {
	s, err := sink.New(conn, opts...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &sinkRunner{s: s, cancel: cancel, done: make(chan struct{})}
	go func() { // ended by stop (or the caller's ctx)
		defer close(r.done)
		r.err = s.Run(ctx)
	}()
	return r, nil
}

// failed reports the sink's error if it has stopped on its own.
func (r *sinkRunner) failed() error {
	select {
	case <-r.done:
		if r.err != nil {
			return fmt.Errorf("sink stopped: %w", r.err)
		}
		return errors.New("sink stopped")
	default:
		return nil
	}
}

// stop ends the sink the way Ctrl-C does and waits for it.
func (r *sinkRunner) stop() error {
	r.cancel()
	<-r.done
	return r.err
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// sinkRounds is the number of sink rounds for -sink-runs n: n, or n+1 when
// n is odd and above 1, so that dedup on and off each go first in half of
// them.
func sinkRounds(n int) int {
	if n > 1 && n%2 == 1 {
		return n + 1
	}
	return n
}
