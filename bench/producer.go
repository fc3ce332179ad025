package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/loadgen"
)

// producerTarget is the least surge/franz-go ratio the producer is held to.
const producerTarget = 0.85

// producerSide is one way of producing the scenario's records.
type producerSide struct {
	name    string
	produce func(ctx context.Context, t stream.Topics, n int) (time.Duration, error)
	rates   []float64
	cpu     []float64 // process CPU µs per record, broker included
}

// runProducer measures records/s of surge's producing path (the load
// generator building records, stream.Producer validating, encoding and
// producing them) against raw franz-go producing the same records
// pre-encoded, alternating the sides. A third side, stream.Producer fed
// with records generated before timing, separates the producer's own cost
// from the generator's.
func runProducer(ctx context.Context, e *env) (*section, error) {
	n := e.cfg.producerRecords
	b, err := startBroker(ctx, e)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	addrs := b.Addrs()
	cl, err := stream.ClientConfig{Brokers: addrs, ClientID: "bench-admin"}.NewClient()
	if err != nil {
		return nil, err
	}
	defer cl.Close()

	e.printf("generating %s records ahead of time for the baseline sides", fmtCount(int64(n)))
	load, err := encodeLoad(ctx, n)
	if err != nil {
		return nil, err
	}
	recs, err := generate(ctx, n)
	if err != nil {
		return nil, err
	}

	surge := &producerSide{name: "surge", produce: func(ctx context.Context, t stream.Topics, n int) (time.Duration, error) {
		return produceSurge(ctx, addrs, t, n, e.cfg.producerInFlight)
	}}
	alone := &producerSide{name: "surge Producer alone", produce: func(ctx context.Context, t stream.Topics, n int) (time.Duration, error) {
		return producePregenerated(ctx, addrs, t, recs[:n])
	}}
	raw := &producerSide{name: "franz-go", produce: func(ctx context.Context, t stream.Topics, n int) (time.Duration, error) {
		kc, err := rawClient(addrs, "bench-franz-go")
		if err != nil {
			return 0, err
		}
		defer kc.Close()
		return produceRaw(ctx, kc, t, load.prefix(n))
	}}
	rawJSON := &producerSide{name: "franz-go + JSON", produce: func(ctx context.Context, t stream.Topics, n int) (time.Duration, error) {
		kc, err := rawClient(addrs, "bench-franz-go-json")
		if err != nil {
			return 0, err
		}
		defer kc.Close()
		return produceRawJSON(ctx, kc, t, recs[:n])
	}}
	sides := []*producerSide{surge, alone, raw, rawJSON}

	// One untimed warm-up per side: connections, pools and the heap reach
	// their working size before anything is measured.
	warm := min(n, 100_000)
	for i, s := range sides {
		t := topicsNamed(fmt.Sprintf("warm%d", i))
		if _, _, err := oneRun(ctx, cl, addrs, t, e.cfg.partitions, warm, s.produce); err != nil {
			return nil, fmt.Errorf("%s warm-up: %w", s.name, err)
		}
	}
	for run := 1; run <= e.cfg.producerRuns; run++ {
		var parts []string
		for i, s := range sides {
			t := topicsNamed(fmt.Sprintf("run%d-%d", run, i))
			took, cpu, err := oneRun(ctx, cl, addrs, t, e.cfg.partitions, n, s.produce)
			if err != nil {
				return nil, fmt.Errorf("%s run %d: %w", s.name, run, err)
			}
			s.rates = append(s.rates, rate(int64(n), took))
			s.cpu = append(s.cpu, float64(cpu.Microseconds())/float64(n))
			parts = append(parts, fmt.Sprintf("%s %s/s (%.1f µs CPU)", s.name, fmtRate(s.rates[len(s.rates)-1]), s.cpu[len(s.cpu)-1]))
		}
		e.printf("run %d: %s", run, strings.Join(parts, ", "))
	}

	sMed, aMed, rMed, jMed := median(surge.rates), median(alone.rates), median(raw.rates), median(rawJSON.rates)
	ratio := sMed / rMed
	met := ratio >= producerTarget
	same := aMed / jMed
	sameMet := same >= producerTarget
	sec := &section{
		Summary: fmt.Sprintf("producer: from the same Go records, surge Producer %s records/s vs franz-go + JSON %s, ratio %.2f (target >= %.2f)%s; "+
			"generator included vs pre-encoded bytes: surge %s vs franz-go %s, ratio %.2f%s",
			fmtRate(aMed), fmtRate(jMed), same, producerTarget, verdict(sameMet),
			fmtRate(sMed), fmtRate(rMed), ratio, verdict(met)),
		Targets: []target{{
			Goal:   fmt.Sprintf("surge Producer >= %.2f × raw franz-go producing the same records (Go values, JSON-encoded)", producerTarget),
			Result: fmt.Sprintf("%.2f (%s vs %s records/s)", same, fmtRate(aMed), fmtRate(jMed)),
			Met:    sameMet,
		}, {
			Goal:   fmt.Sprintf("surge load generator + Producer >= %.2f × raw franz-go sending pre-encoded bytes (strictest reading)", producerTarget),
			Result: fmt.Sprintf("%.2f (%s vs %s records/s)", ratio, fmtRate(sMed), fmtRate(rMed)),
			Met:    met,
		}},
	}
	e.printf("surge Producer alone (records generated before timing): %s records/s, ratio %.2f to franz-go + JSON", fmtRate(aMed), same)

	var rows [][]string
	for i := range surge.rates {
		row := []string{fmt.Sprint(i + 1)}
		for _, s := range sides {
			row = append(row, fmt.Sprintf("%s (%.2f µs CPU)", fmtRate(s.rates[i]), s.cpu[i]))
		}
		rows = append(rows, append(row, fmt.Sprintf("%.2f", surge.rates[i]/raw.rates[i])))
	}
	row := []string{"**median**"}
	for _, s := range sides {
		row = append(row, fmt.Sprintf("**%s** (%.2f µs CPU)", fmtRate(median(s.rates)), median(s.cpu)))
	}
	rows = append(rows, append(row, fmt.Sprintf("**%.2f**", ratio)))

	var body strings.Builder
	body.WriteString("Records/s per run and side, with the process CPU time (all threads, the\n")
	body.WriteString("in-process broker included) per record in brackets:\n\n")
	body.WriteString(mdTable([]string{"run", "surge (loadgen + Producer)", "surge Producer alone", "franz-go (pre-encoded)", "franz-go + JSON", "surge / franz-go"}, rows))
	fmt.Fprintf(&body, `
surge Producer alone / franz-go + JSON (same Go records): **%.2f**.

Records per run and side: %s generated with seed %d: %s user events (mean
value %.0f bytes), %s orders (%.0f bytes), %s order status changes (%.0f
bytes); keys are user ids. Topics have %d partitions.

- **surge (loadgen + Producer)**, compared with pre-encoded franz-go in
  the strictest reading of the target: loadgen.Generator with Rate 0 (as fast as the sender takes records,
  MaxInFlight %s) handing each record to stream.Producer.ProduceAsync, which
  validates, encodes and produces it (acks=all, idempotent, lz4, linger %s,
  murmur2 sticky-key partitioning). Timed from the start of Run until every
  record is acked.
- **surge Producer alone**: the same generator's records built before
  timing, then handed to stream.Producer.ProduceAsync in a loop; timed until
  Flush returns. It is the producer's own cost without the generator's,
  and the side held to the target, against franz-go + JSON.
- **franz-go**: the same records, pre-encoded before timing, each produced
  as a new kgo.Record with kgo.Client.Produce and a promise, on a client with
  the same options (acks=all, idempotent, lz4, linger %s, sticky-key
  partitioner). Timed from the first Produce until Flush returns.
- **franz-go + JSON**: the same records as the Producer-alone side (Go
  values built before timing), each encoded with segmentio/encoding's
  json.Marshal and produced as a new kgo.Record (key = user id, topic by
  kind and priority, as surge routes) on the same client options. This is
  what an application using franz-go directly does with its events, and
  the baseline the target is read against: both it and the Producer-alone
  side start from the same records in memory.
- All sides write to the same in-process kfake broker, into fresh topics per
  run. After one untimed warm-up of %s records per side, the sides take
  turns, %d rounds; the table shows every run and the median. After every run
  the topics' end offsets are checked to sum to exactly the records produced.
- The broker shares the process and the %d CPUs with the producers, so a
  side's CPU per record includes the broker's work on its records.
`,
		same,
		fmtCount(int64(n)), benchSeed,
		fmtCount(load.byKind[schemas.KindUserEvent]), load.avgBytes(schemas.KindUserEvent),
		fmtCount(load.byKind[schemas.KindOrder]), load.avgBytes(schemas.KindOrder),
		fmtCount(load.byKind[schemas.KindOrderStatus]), load.avgBytes(schemas.KindOrderStatus),
		e.cfg.partitions, inFlightText(e.cfg.producerInFlight), stream.DefaultLinger, stream.DefaultLinger,
		fmtCount(int64(warm)), e.cfg.producerRuns, e.machine.NProc)
	sec.Body = body.String()
	return sec, nil
}

func inFlightText(n int) string {
	if n == 0 {
		return fmt.Sprintf("%s, the default", fmtCount(loadgen.DefaultMaxInFlight))
	}
	return fmtCount(int64(n))
}

// oneRun creates fresh topics, runs produce for n records, checks that
// exactly n records landed and returns the time produce reported and the
// process CPU time it took.
func oneRun(ctx context.Context, cl *kgo.Client, addrs []string, t stream.Topics, partitions, n int,
	produce func(context.Context, stream.Topics, int) (time.Duration, error)) (time.Duration, time.Duration, error) {
	if err := ensureTopics(ctx, cl, t, partitions); err != nil {
		return 0, 0, err
	}
	defer deleteTopics(context.WithoutCancel(ctx), cl, t.All()...) // frees the broker's memory
	cpu0 := processCPU()
	took, err := produce(ctx, t, n)
	cpu := processCPU() - cpu0
	if err != nil {
		return 0, 0, err
	}
	got, err := endOffsets(ctx, addrs, partitions, t.Data()...)
	if err != nil {
		return 0, 0, err
	}
	if got != int64(n) {
		return 0, 0, fmt.Errorf("topics hold %d records, want %d", got, n)
	}
	return took, cpu, nil
}

// produceSurge runs the load generator into a stream.Producer and returns
// the time from the start of the run until every record was acked.
func produceSurge(ctx context.Context, addrs []string, t stream.Topics, n, inFlight int) (time.Duration, error) {
	p, err := stream.NewProducer(stream.WithBrokers(addrs...), stream.WithTopics(t), stream.WithClientID("bench-surge"))
	if err != nil {
		return 0, err
	}
	defer p.Close()
	joinResizes(ctx, p, nil)
	g, err := loadgen.New(loadgen.Config{MaxRecords: int64(n), Seed: benchSeed, MaxInFlight: inFlight},
		func(ctx context.Context, r schemas.Record, done func(error)) {
			p.ProduceAsync(ctx, r, func(_ stream.Ack, err error) { done(err) })
		})
	if err != nil {
		return 0, err
	}
	start := time.Now()
	st, err := g.Run(ctx)
	if err != nil {
		return 0, err
	}
	took := time.Since(start)
	if st.Failed > 0 || st.Acked != int64(n) {
		return 0, fmt.Errorf("%d records acked and %d failed, want %d acked", st.Acked, st.Failed, n)
	}
	return took, nil
}

// producePregenerated hands ready-made records to a stream.Producer and
// returns the time until every one was acked.
func producePregenerated(ctx context.Context, addrs []string, t stream.Topics, recs []schemas.Record) (time.Duration, error) {
	p, err := stream.NewProducer(stream.WithBrokers(addrs...), stream.WithTopics(t), stream.WithClientID("bench-surge-alone"))
	if err != nil {
		return 0, err
	}
	defer p.Close()
	joinResizes(ctx, p, nil)
	var errs errCounter
	start := time.Now()
	for _, r := range recs {
		p.ProduceAsync(ctx, r, errs.done)
	}
	if err := p.Flush(ctx); err != nil {
		return 0, err
	}
	took := time.Since(start)
	if err := errs.err(len(recs)); err != nil {
		return 0, err
	}
	return took, nil
}
