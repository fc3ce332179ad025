package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/sink"
)

// Sink targets.
const (
	sinkTargetRatio = 2.0     // surge rows/s over the Kafka engine's
	sinkTargetRate  = 300_000 // surge rows/s
)

// drainStall is how long a drain may make no progress before it fails.
const drainStall = 60 * time.Second

// surgeCountQuery counts every row the sink writes for the pre-filled
// topics.
const surgeCountQuery = "SELECT (SELECT count() FROM user_events) + (SELECT count() FROM orders) + " +
	"(SELECT count() FROM order_status) + (SELECT count() FROM sink_rejects)"

// runSink pre-fills the topics, then times surge's sink draining all of
// them into ClickHouse, and ClickHouse's own Kafka engine draining the
// user-events topic, on the same broker and server.
func runSink(ctx context.Context, e *env) (*section, error) {
	n := e.cfg.sinkRecords
	dir, cleanup, err := tempDir("sink")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	b, err := startBroker(ctx, e)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	ch, err := startClickHouse(ctx, e, dir, analytics.WithKafkaEarliest())
	if err != nil {
		return nil, err
	}
	defer ch.stop()
	topics := stream.DefaultTopics()

	// Pre-fill with raw franz-go.
	kc, err := rawClient(b.Addrs(), "bench-prefill")
	if err != nil {
		return nil, err
	}
	defer kc.Close()
	if err := ensureTopics(ctx, kc, topics, e.cfg.partitions); err != nil {
		return nil, err
	}
	load, err := encodeLoad(ctx, n)
	if err != nil {
		return nil, err
	}
	fillTook, err := produceRaw(ctx, kc, topics, load)
	if err != nil {
		return nil, fmt.Errorf("pre-fill: %w", err)
	}
	events := load.byKind[schemas.KindUserEvent]
	orders := load.byKind[schemas.KindOrder] + load.byKind[schemas.KindOrderStatus]
	eventBytes := load.avgBytes(schemas.KindUserEvent)
	load = nil
	e.printf("pre-filled %s records in %.1fs: %s user events (mean %.0f bytes) on %s, %s orders and status changes on %s",
		fmtCount(int64(n)), fillTook.Seconds(), fmtCount(events), eventBytes, topics.UserEvents, fmtCount(orders), topics.Orders)

	// surge's sink, all topics.
	surge, err := timeSurgeSink(ctx, e, ch, b.Addrs(), uint64(n))
	if err != nil {
		return nil, fmt.Errorf("surge sink: %w", err)
	}
	e.printf("surge sink: %s rows in %.2fs: %s rows/s (steady %s rows/s); %d batches, %d retried; CPU: bench process %.1fs, clickhouse-server %.1fs",
		fmtCount(int64(surge.drain.final)), surge.drain.took.Seconds(), fmtRate(surge.drain.rate()),
		fmtRateOrNA(surge.drain.steadyRate()), surge.stats.Batches, surge.stats.Retries, surge.goCPU.Seconds(), surge.chCPU.Seconds())

	if e.cfg.verbose {
		e.printf("  counts: %s", surge.drain)
	}

	// ClickHouse's Kafka engine, user events only, each setting in turn.
	var runs []engineResult
	for _, consumers := range e.cfg.engineConsumers {
		for _, block := range e.cfg.engineBlockSizes {
			ch.waitMergesIdle(ctx, time.Minute)
			r, err := timeKafkaEngine(ctx, ch, b.Addrs()[0], topics.UserEvents, uint64(events), len(runs)+1, consumers, block)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				return nil, fmt.Errorf("kafka engine (consumers %d, block %d): %w", consumers, block, err)
			}
			e.printf("kafka engine, kafka_num_consumers=%d kafka_max_block_size=%d: %s rows in %.2fs: %s rows/s (steady %s rows/s); CPU: bench process %.1fs, clickhouse-server %.1fs",
				consumers, block, fmtCount(int64(r.drain.final)), r.drain.took.Seconds(), fmtRate(r.drain.rate()),
				fmtRateOrNA(r.drain.steadyRate()), r.goCPU.Seconds(), r.chCPU.Seconds())
			if e.cfg.verbose {
				e.printf("  counts: %s", r.drain)
			}
			runs = append(runs, r)
		}
	}
	best := runs[0]
	for _, r := range runs[1:] {
		if r.drain.rate() > best.drain.rate() {
			best = r
		}
	}

	sRate, eRate := surge.drain.rate(), best.drain.rate()
	sSteady, eSteady := surge.drain.steadyRate(), best.drain.steadyRate()
	ratio := sRate / eRate
	// The target is judged on the lower of the end-to-end and steady
	// ratios, so that neither side's start-up or tail decides it.
	judged := ratio
	steadyText := "n/a (too few samples between 10% and 90%)"
	if sSteady > 0 && eSteady > 0 {
		steadyText = fmt.Sprintf("%.2f×", sSteady/eSteady)
		judged = min(ratio, sSteady/eSteady)
	}
	metRatio, metRate := judged >= sinkTargetRatio, sRate >= sinkTargetRate
	sec := &section{
		Summary: fmt.Sprintf("sink: surge %s rows/s, kafka-engine %s rows/s, ratio %.2fx, steady-state ratio %s (target >= %.0fx%s; surge target >= %s rows/s%s)",
			fmtRate(sRate), fmtRate(eRate), ratio, steadyText, sinkTargetRatio, verdict(metRatio), fmtRate(sinkTargetRate), verdict(metRate)),
		Targets: []target{
			{Goal: fmt.Sprintf("surge sink >= %.0f× the Kafka engine (lower of end-to-end and steady ratios)", sinkTargetRatio),
				Result: fmt.Sprintf("%.2f× end-to-end (%s vs %s rows/s), %s steady", ratio, fmtRate(sRate), fmtRate(eRate), steadyText),
				Met:    metRatio},
			{Goal: fmt.Sprintf("surge sink >= %s rows/s", fmtRate(sinkTargetRate)),
				Result: fmt.Sprintf("%s rows/s end-to-end (%s steady)", fmtRate(sRate), fmtRateOrNA(sSteady)), Met: metRate},
		},
	}

	rows := [][]string{{"**surge sink**", "all three topics", fmtCount(int64(surge.drain.final)),
		fmt.Sprintf("%.2f s", surge.drain.took.Seconds()), "**" + fmtRate(sRate) + "**", fmtRateOrNA(sSteady),
		fmt.Sprintf("%.1f s + %.1f s", surge.goCPU.Seconds(), surge.chCPU.Seconds()),
		cpuPerRow(surge.goCPU+surge.chCPU, surge.drain.final)}}
	for _, r := range runs {
		name := "Kafka engine"
		if r.index == best.index {
			name = "**Kafka engine (best)**"
		}
		rows = append(rows, []string{name,
			fmt.Sprintf("kafka_num_consumers=%d, kafka_max_block_size=%d", r.consumers, r.block),
			engineRows(r.drain), fmt.Sprintf("%.2f s", r.drain.took.Seconds()),
			fmtRate(r.drain.rate()), fmtRateOrNA(r.drain.steadyRate()),
			fmt.Sprintf("%.1f s + %.1f s", r.goCPU.Seconds(), r.chCPU.Seconds()),
			cpuPerRow(r.goCPU+r.chCPU, r.drain.final)})
	}
	var body strings.Builder
	body.WriteString(mdTable([]string{"consumer", "settings", "rows", "time", "rows/s", "steady rows/s (10%→90%)",
		"CPU (bench process + clickhouse-server)", "CPU µs/row"}, rows))
	fmt.Fprintf(&body, `
Ratio of the steady rates (10%%→90%% of the rows, start-up and tail left out):
%s. The target ratio is judged on the lower of the two ratios. The best
Kafka-engine setting (highest end-to-end rows/s) was
kafka_num_consumers=%d, kafka_max_block_size=%d; the table lists every
setting tried.

Method:

- The topics (%d partitions each) are pre-filled with raw franz-go with %s
  records generated with seed %d: %s user events (mean value %.0f bytes) on
  %s and %s orders and order status changes on %s.
- **surge sink**: sink.New with %s, started with Run; timed from Run until
  `+"`"+`%s`+"`"+` (polled every %s) reaches %s,
  i.e. every record of every topic is a row. It writes exactly once: a count
  above the number of records fails the run. It also feeds the
  events_per_minute and orders_per_minute materialized views. Its batches:
  %d; rows written %s; records replayed (skipped as already present) %d;
  failed writes retried %d.
- **Kafka engine**: per setting, a fresh database with user_events and
  events_per_minute created AS surge's tables, the events_per_minute
  materialized view, a Kafka table `+"`"+`ENGINE = Kafka SETTINGS kafka_broker_list,
  kafka_topic_list='%s', kafka_group_name, kafka_format='JSONEachRow',
  kafka_num_consumers, kafka_max_block_size`+"`"+` with a fresh group (the server runs
  with `+"`"+`<kafka><auto_offset_reset>smallest</auto_offset_reset></kafka>`+"`"+`), and a
  materialized view from it into user_events parsing ts with
  parseDateTimeBestEffort. Timed from the CREATE of that view (which starts
  consumption) until `+"`"+`SELECT count()`+"`"+` of its user_events reaches %s. It
  consumes only the user-events topic, so its rows are user events only. The
  engine is at-least-once: rows it writes twice (after a rebalance between
  its consumers) are listed as duplicates and do not count towards its
  rate.
- Shortcuts that favour the engine: 18.16 has no _topic/_partition/_offset
  virtual columns, so the provenance columns are constants, and ts_ms is
  whole seconds (the raw ts string cannot be referenced once the output
  column ts is aliased to its parsed value, and a subquery in the view fails
  with "There is no query" on 18.16).
- CPU: the bench process (sink, broker, polling; for the Kafka engine, the
  broker serving its fetches) and the clickhouse-server process, from
  getrusage and /proc/PID/stat, over each drain. CPU per row is the fairer
  comparison on a shared machine.
- Merges from the previous drain are waited out (system.merges empty, at
  most a minute) before each Kafka-engine run.
`,
		steadyText,
		best.consumers, best.block,
		e.cfg.partitions, fmtCount(int64(n)), benchSeed, fmtCount(events), eventBytes, topics.UserEvents,
		fmtCount(orders), topics.Orders,
		sinkSettings(e.cfg), surgeCountQuery, countPoll, fmtCount(int64(n)),
		surge.stats.Batches, fmtCount(surge.stats.Rows), surge.stats.Replayed, surge.stats.Retries,
		topics.UserEvents, fmtCount(events))
	sec.Body = body.String()
	return sec, nil
}

// engineRows is the rows an engine drain wrote, with its duplicates.
func engineRows(d drain) string {
	if dup := d.duplicates(); dup > 0 {
		return fmt.Sprintf("%s (%s duplicates)", fmtCount(int64(d.final)), fmtCount(int64(dup)))
	}
	return fmtCount(int64(d.final))
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

// timeSurgeSink runs a sink on a fresh group until ClickHouse holds want
// rows, then stops it.
func timeSurgeSink(ctx context.Context, e *env, ch *clickhouse, addrs []string, want uint64) (surgeSinkResult, error) {
	var res surgeSinkResult
	opts := []sink.Opt{
		sink.WithClient(stream.ClientConfig{Brokers: addrs, ClientID: "bench-sink", Logger: e.log}),
		sink.WithGroup("bench-sink"),
		sink.WithLogger(e.log),
	}
	if e.cfg.sinkBatchRows > 0 {
		opts = append(opts, sink.WithBatchRows(e.cfg.sinkBatchRows))
	}
	if e.cfg.sinkBatchInterval > 0 {
		opts = append(opts, sink.WithBatchInterval(e.cfg.sinkBatchInterval))
	}
	cpu0, ch0 := processCPU(), ch.serverCPU()
	start := time.Now()
	r, err := startSink(ctx, ch, opts...)
	if err != nil {
		return res, err
	}
	res.drain, err = watchCount(ctx, ch, surgeCountQuery, want, start, true, drainStall, r.failed)
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

func startSink(ctx context.Context, ch *clickhouse, opts ...sink.Opt) (*sinkRunner, error) {
	s, err := sink.New(ch.conn, opts...)
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
