package dispatch_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/dispatch"
)

// BenchmarkNoopOverhead measures the dispatcher with a no-op handler
// against raw franz-go consuming the same topic, for profiling the
// dispatcher's own overhead:
//
//	go test -run '^$' -bench NoopOverhead -benchtime 1x \
//		-cpuprofile cpu.out -blockprofile block.out ./stream/dispatch/
//
// It reports both rates and their ratio (bench/dispatch.go is the
// recorded figure).
func BenchmarkNoopOverhead(b *testing.B) {
	const n, keys = 300_000, 10_000
	brokers := testenv.KafkaCluster(b, 8, []string{"noop", "noop-dl"}).ListenAddrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range n {
		k := fmt.Sprintf("u-%05d", i%keys)
		v, _ := schemas.Encode(benchOrder(i, k)) // valid: the dispatcher dead-letters invalid records
		wg.Add(1)
		cl.Produce(context.Background(), &kgo.Record{Topic: "noop", Key: []byte(k), Value: v}, func(*kgo.Record, error) { wg.Done() })
	}
	wg.Wait()
	cl.Close()
	for i := 0; i < b.N; i++ {
		c0 := cpuTime()
		raw := rawRate(b, brokers, fmt.Sprintf("raw-%d", i), n)
		c1 := cpuTime()
		got := dispatchRate(b, brokers, fmt.Sprintf("noop-%d", i), n)
		c2 := cpuTime()
		b.ReportMetric(raw, "raw-rec/s")
		b.ReportMetric(got, "dispatch-rec/s")
		b.ReportMetric(got/raw, "ratio")
		// CPU per record of the whole process (broker included), from
		// the start to the last record and shutdown: less noisy than
		// rates on a shared machine.
		b.ReportMetric(float64((c1-c0).Nanoseconds())/n, "raw-cpu-ns/rec")
		b.ReportMetric(float64((c2-c1).Nanoseconds())/n, "dispatch-cpu-ns/rec")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rawRate and dispatchRate time from the start (client creation, Run) to
// the last record, as bench/dispatch.go does.
func rawRate(b *testing.B, brokers []string, group string, n int) float64 {
	start := time.Now()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumerGroup(group), kgo.ConsumeTopics("noop"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	for seen := 0; seen < n; {
		seen += cl.PollRecords(context.Background(), 10_000).NumRecords()
	}
	return float64(n) / time.Since(start).Seconds()
}

func dispatchRate(b *testing.B, brokers []string, group string, n int) float64 {
	var done atomic.Int64
	finished := make(chan time.Time, 1)
	d, err := dispatch.New(
		dispatch.WithClient(stream.ClientConfig{Brokers: brokers}),
		dispatch.WithGroup(group),
		dispatch.WithTopics([]string{"noop"}),
		dispatch.WithDeadLetterTopic("noop-dl"),
		dispatch.WithHandler(func(context.Context, dispatch.Record) error {
			if done.Add(1) == int64(n) {
				finished <- time.Now()
			}
			return nil
		}),
	)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	start := time.Now()
	go func() { errc <- d.Run(ctx) }()
	defer func() { cancel(); <-errc }()
	select {
	case end := <-finished:
		return float64(n) / end.Sub(start).Seconds()
	case err := <-errc:
		b.Fatalf("Run: %v", err)
	case <-time.After(2 * time.Minute):
		b.Fatalf("handled %d of %d in 2 minutes", done.Load(), n)
	}
	return 0
}

// benchOrder is a valid order (the dispatcher checks every record) in the
// canonical form surge's producers write, about 200 bytes.
func benchOrder(i int, user string) *schemas.Order {
	return &schemas.Order{EventID: fmt.Sprintf("e-%d", i), OrderID: fmt.Sprintf("o-%d", i), UserID: user,
		Items: []schemas.Item{{SKU: "tv-55", Qty: 1, UnitPrice: 1999}}, Amount: 1999, Currency: "EUR",
		CreatedAt: time.Date(2024, 11, 29, 8, 0, 0, 0, time.UTC)}
}
