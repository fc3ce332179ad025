package sink_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/stream/sink"
)

// BenchmarkSink measures rows/s from a pre-filled topic into ClickHouse.
// The bench program (bench/) is where the figures come from; this one is for
// profiling: go test -run '^$' -bench Sink -cpuprofile cpu.out ./stream/sink
func BenchmarkSink(b *testing.B) {
	b.ReportAllocs()
	brokers := testenv.Kafka(b, topics.All()...)
	recs, w := genRecords(rand.New(rand.NewPCG(1, 1)), 300_000, time.Now().Add(-time.Hour))
	produce(b, brokers, recs)
	i := 0
	for b.Loop() {
		i++
		ch := testenv.ClickHouseConn(b)
		start := time.Now()
		stop := runSinkTB(b, ch, brokers, sink.WithGroup(fmt.Sprintf("bench-%d", i)))
		for {
			got, _, err := counts(context.Background(), ch)
			if err != nil {
				b.Fatal(err)
			}
			if got.total >= w.total {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		b.ReportMetric(float64(w.total)/time.Since(start).Seconds(), "rows/s")
		stop()
	}
}
