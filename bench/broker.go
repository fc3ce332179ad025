package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/stream/broker"
)

// brokerTarget is the most CPU per record surge's broker may take, as a
// multiple of bare kfake's, producing and consuming: the connection watch
// (stream/broker's listener.go) must cost next to nothing. CPU time is
// held rather than rates because it depends less on other work on a
// shared machine.
const brokerTarget = 1.10

// brokerSide is one way of running the broker.
type brokerSide struct {
	name    string
	start   func(ctx context.Context) (addrs []string, stop func(), err error)
	produce []float64 // records/s per run
	consume []float64
	cpu     []float64 // process CPU µs per record, producing and consuming it
}

// runBrokerBench measures records/s produced to and consumed from surge's
// embedded broker (kfake behind stream/broker's listener, which watches
// each connection's group requests) against a bare kfake cluster with the
// same options, alternating the sides, each run on a fresh broker.
func runBrokerBench(ctx context.Context, e *env) (*section, error) {
	n := e.cfg.producerRecords
	parts := int32(e.cfg.partitions)
	surge := &brokerSide{name: "surge broker", start: func(ctx context.Context) ([]string, func(), error) {
		b, err := broker.Start(ctx, broker.WithPartitions(int(parts)), broker.WithLogger(e.log))
		if err != nil {
			return nil, nil, err
		}
		return b.Addrs(), b.Close, nil
	}}
	bare := &brokerSide{name: "bare kfake", start: func(context.Context) ([]string, func(), error) {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(int(parts)), kfake.AllowAutoTopicCreation())
		if err != nil {
			return nil, nil, err
		}
		return c.ListenAddrs(), c.Close, nil
	}}
	sides := []*brokerSide{surge, bare}
	value := make([]byte, 200)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	runs := max(e.cfg.producerRuns, 1)
	for run := 0; run <= runs; run++ { // run 0 is an untimed warm-up
		var line []string
		for _, s := range sides {
			cpu0 := processCPU()
			p, c, err := brokerRun(ctx, s, n, value)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.name, err)
			}
			cpu := float64((processCPU() - cpu0).Microseconds()) / float64(n)
			if run == 0 {
				continue
			}
			s.produce, s.consume, s.cpu = append(s.produce, p), append(s.consume, c), append(s.cpu, cpu)
			line = append(line, fmt.Sprintf("%s produce %s/s consume %s/s (%.2f µs CPU)", s.name, fmtRate(p), fmtRate(c), cpu))
		}
		if run > 0 {
			e.printf("run %d: %s", run, strings.Join(line, ", "))
		}
	}
	cpuRatio := median(surge.cpu) / median(bare.cpu)
	sec := &section{
		Summary: fmt.Sprintf("broker: surge broker / bare kfake CPU per record %.2f (%.2f vs %.2f µs, target <= %.2f); produce %s vs %s records/s, consume %s vs %s",
			cpuRatio, median(surge.cpu), median(bare.cpu), brokerTarget,
			fmtRate(median(surge.produce)), fmtRate(median(bare.produce)),
			fmtRate(median(surge.consume)), fmtRate(median(bare.consume))),
		Targets: []target{{
			Goal:   fmt.Sprintf("CPU per record produced and consumed through surge's broker <= %.2f × bare kfake", brokerTarget),
			Result: fmt.Sprintf("%.2f (%.2f vs %.2f µs)", cpuRatio, median(surge.cpu), median(bare.cpu)),
			Met:    cpuRatio <= brokerTarget,
		}},
	}
	var rows [][]string
	for i := range surge.produce {
		rows = append(rows, []string{fmt.Sprint(i + 1),
			fmtRate(surge.produce[i]), fmtRate(bare.produce[i]), fmtRate(surge.consume[i]), fmtRate(bare.consume[i]),
			fmt.Sprintf("%.2f", surge.cpu[i]), fmt.Sprintf("%.2f", bare.cpu[i])})
	}
	rows = append(rows, []string{"**median**",
		"**" + fmtRate(median(surge.produce)) + "**", "**" + fmtRate(median(bare.produce)) + "**",
		"**" + fmtRate(median(surge.consume)) + "**", "**" + fmtRate(median(bare.consume)) + "**",
		fmt.Sprintf("**%.2f**", median(surge.cpu)), fmt.Sprintf("**%.2f**", median(bare.cpu))})
	var body strings.Builder
	body.WriteString("Records/s per run, and the process CPU time (clients and broker) per record\nproduced and consumed:\n\n")
	body.WriteString(mdTable([]string{"run", "produce, surge broker", "produce, bare kfake", "consume, surge broker", "consume, bare kfake",
		"µs CPU, surge broker", "µs CPU, bare kfake"}, rows))
	fmt.Fprintf(&body, `
Each run starts a fresh in-memory broker of each kind in this process: surge's
(broker.Start: kfake behind stream/broker's listener, which reads the header of
every request and decodes JoinGroup/SyncGroup to keep consumer groups
recoverable) and a bare kfake cluster with the same options. A franz-go client
produces %s records of 200 bytes (no key, acks=all, idempotent, no
compression) to a topic of %d partitions, timed until Flush returns; a second
client then consumes them from the start, timed until the last is polled.
After one untimed warm-up per side, the sides take turns, %d rounds.
`, fmtCount(int64(n)), parts, runs)
	sec.Body = body.String()
	return sec, nil
}

// brokerRun starts the side's broker, produces n records and consumes them
// back, and returns both rates.
func brokerRun(ctx context.Context, s *brokerSide, n int, value []byte) (produce, consume float64, err error) {
	addrs, stop, err := s.start(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer stop()
	const topic = "bench-broker"
	prod, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic(topic),
		kgo.AllowAutoTopicCreation(), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		return 0, 0, err
	}
	defer prod.Close()
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
		return 0, 0, fmt.Errorf("create topic: %w", err)
	}
	var (
		mu     sync.Mutex
		failed error
	)
	start := time.Now()
	for range n - 1 {
		prod.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				failed = err
				mu.Unlock()
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		return 0, 0, err
	}
	produce = rate(int64(n-1), time.Since(start))
	mu.Lock()
	defer mu.Unlock()
	if failed != nil {
		return 0, 0, fmt.Errorf("produce: %w", failed)
	}

	cons, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return 0, 0, err
	}
	defer cons.Close()
	start = time.Now()
	for got := 0; got < n; {
		fs := cons.PollFetches(ctx)
		if errs := fs.Errors(); len(errs) > 0 {
			return 0, 0, fmt.Errorf("consume %s/%d: %w", errs[0].Topic, errs[0].Partition, errs[0].Err)
		}
		got += fs.NumRecords()
	}
	return produce, rate(int64(n), time.Since(start)), nil
}
