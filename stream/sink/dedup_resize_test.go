package sink_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/control"
)

// TestSinkDedupAcrossResize: events stored while user-events had 2
// partitions are re-sent after a resize to 4; the copies of users whose key
// moved land on partition p+2, and are dropped all the same (their dedup
// scope is murmur2(user) mod the base count 2).
func TestSinkDedupAcrossResize(t *testing.T) {
	brokers := testenv.KafkaPartitions(t, 2, topics.All()...)
	ch := testenv.ClickHouseConn(t)
	ctx := context.Background()
	var originals []*kgo.Record
	for i := range 120 {
		user := fmt.Sprintf("u-%d", i%40)
		originals = append(originals, &kgo.Record{Topic: topics.UserEvents, Key: []byte(user), Value: userEvent(t, user)})
	}
	produce(t, brokers, originals)
	stop := runSink(t, ch, brokers)
	w := newWant()
	w.rows[analytics.TableUserEvents], w.total = 120, 120
	waitFor(t, ch, w, time.Minute)

	z, err := control.NewResizer(ctx, "", stream.ClientConfig{Brokers: brokers}.Opts(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	plan, err := z.Plan(ctx, topics.UserEvents, 4, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := z.Apply(ctx, plan, 5*time.Second, nil); err != nil {
		t.Fatalf("resize: %v", err)
	}
	// A new client sees 4 partitions: murmur2 mod 4 moves half the users.
	var copies []*kgo.Record
	moved := 0
	for _, r := range originals {
		copies = append(copies, &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value})
		if control.KeyPartition(r.Key, 4) >= 2 {
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("no key moved with the resize: the test shows nothing")
	}
	produce(t, brokers, copies)
	w.dups, w.total = 120, 240
	waitFor(t, ch, w, 90*time.Second)
	stop()
	checkExact(t, ch, w)
	reconcile(t, brokers, ch)
	var onNew uint64
	if err := ch.DB().QueryRow(ctx, "SELECT count() FROM sink_duplicates WHERE kafka_partition >= 2").Scan(&onNew); err != nil {
		t.Fatal(err)
	}
	if onNew != uint64(moved) {
		t.Errorf("copies dropped on the new partitions: got %d, want %d", onNew, moved)
	}
}
