package triggers_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/internal/testenv"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/triggers"
	"github.com/surgeio/surge/stream/triggers/rules"
)

var topics = stream.DefaultTopics()

// testRules are chosen so that each rule reads one input topic: their
// outcome does not depend on how the consumer interleaves topics, so an
// offline replay predicts the live coupons exactly.
const testRules = `lateness: 1s
campaigns:
  - {id: c, timezone: UTC, start: "2020-01-01", end: "2030-01-01"}
rules:
  - {id: cart, campaign: c, kind: count, events: [add_to_cart], count: 3, within: 10s, cap: 2, coupon: {value: 500, currency: USD, expires: 1h}}
  - {id: abandon, campaign: c, kind: absence, events: [add_to_cart], absent: [checkout_started], within: 2s, coupon: {value: 300, currency: USD, expires: 1h}}
  - {id: spend, campaign: c, kind: sum, threshold: 5000, coupon: {value: 700, currency: USD, expires: 1h}}
  - {id: first, campaign: c, kind: first, events: [search], coupon: {value: 100, currency: USD, expires: 1h}}
`

func writeRules(t testing.TB, doc string) (string, *rules.Set) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, set
}

// genInput makes n records for users u-0000..: user events and orders with
// event times from base, 1ms apart, in produce order.
func genInput(rng *rand.Rand, n, users int, base time.Time) []*kgo.Record {
	types := []schemas.EventType{schemas.EventAddToCart, schemas.EventAddToCart, schemas.EventPageView,
		schemas.EventSearch, schemas.EventCheckoutStarted}
	recs := make([]*kgo.Record, 0, n)
	for i := range n {
		user := fmt.Sprintf("u-%04d", rng.IntN(users))
		ts := base.Add(time.Duration(i) * time.Millisecond)
		var r schemas.Record
		if rng.IntN(6) == 0 {
			qty := int64(1 + rng.IntN(3))
			r = &schemas.Order{EventID: schemas.NewEventID(), OrderID: "o-" + schemas.NewEventID(), UserID: user,
				Items: []schemas.Item{{SKU: "sku-1", Qty: qty, UnitPrice: 999}}, Amount: qty * 999, Currency: "USD",
				Priority: schemas.PriorityNormal, CreatedAt: ts}
		} else {
			r = &schemas.UserEvent{EventID: schemas.NewEventID(), UserID: user, SessionID: "s", Type: types[rng.IntN(len(types))],
				SKU: "sku-1", TS: ts}
		}
		v, err := schemas.Encode(r)
		if err != nil {
			panic(err)
		}
		recs = append(recs, &kgo.Record{Topic: topics.Route(r), Key: []byte(user), Value: v})
	}
	return recs
}

func produce(t testing.TB, brokers []string, recs []*kgo.Record) {
	t.Helper()
	testenv.Produce(t, brokers, recs...)
}

// expected replays the produced records offline through the engine, one
// partition at a time (records carry the partition they were produced to),
// and returns the coupon ids a correct run issues.
func expected(t testing.TB, set *rules.Set, recs []*kgo.Record, n int32) map[string]string {
	t.Helper()
	parts := map[int32]*rules.Partition{}
	sorted := append([]*kgo.Record(nil), recs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Partition < sorted[j].Partition })
	var out []rules.Issue
	for _, r := range sorted {
		p := parts[r.Partition]
		if p == nil {
			p = rules.NewPartition(set, r.Partition, n, 0)
			parts[r.Partition] = p
		}
		dec, err := schemas.Decode(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		ev, _ := rules.FromRecord(dec)
		ch := rules.ChannelUserEvents
		if r.Topic == topics.Orders {
			ch = rules.ChannelOrders
		}
		out, _ = p.Replay(&ev, ch, out)
	}
	for _, p := range parts {
		out = p.AdvanceTo(time.Now().Add(time.Hour).UnixMilli(), out)
	}
	want := map[string]string{}
	for _, is := range out {
		want[is.CouponID] = is.Rule
	}
	return want
}

// coupons reads the coupons topic with read_committed until it holds at
// least want records and nothing more arrives for settle, or until timeout.
func coupons(t testing.TB, brokers []string, want int, settle, timeout time.Duration) []*schemas.Coupon {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics.Coupons),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*schemas.Coupon
	deadline := time.Now().Add(timeout)
	last := time.Now()
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			c, err := schemas.DecodeCoupon(r.Value)
			if err != nil {
				t.Errorf("coupon at offset %d does not decode: %v", r.Offset, err)
				return
			}
			out = append(out, c)
			last = time.Now()
		})
		if len(out) >= want && time.Since(last) >= settle {
			break
		}
	}
	return out
}

// runRunner runs an in-process Runner until the returned stop is called.
func runRunner(t testing.TB, brokers []string, set *rules.Set, opts ...triggers.Opt) (*triggers.Runner, func()) {
	t.Helper()
	opts = append([]triggers.Opt{triggers.WithClient(stream.ClientConfig{Brokers: brokers}), triggers.WithRules(set),
		triggers.WithIdleTimeout(3 * time.Second), triggers.WithSessionTimeout(2 * time.Second),
		triggers.WithRebalanceTimeout(4 * time.Second), triggers.WithTransactionTimeout(3 * time.Second)}, opts...)
	r, err := triggers.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runner: %v", err)
		}
	}
	t.Cleanup(stop)
	return r, stop
}

// kafka starts kfake with surge's topics and short group timeouts allowed.
func kafka(t testing.TB, partitions int32) []string {
	t.Helper()
	return testenv.KafkaCluster(t, partitions, topics.All(), kfake.GroupMinSessionTimeout(500*time.Millisecond)).ListenAddrs()
}

func produceRecords(t testing.TB, brokers []string, rs ...schemas.Record) {
	t.Helper()
	var recs []*kgo.Record
	for _, r := range rs {
		v, err := schemas.Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: topics.Route(r), Key: []byte(r.Key()), Value: v})
	}
	produce(t, brokers, recs)
}

func readDeadLetters(t testing.TB, brokers []string) []stream.DeadLetter {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics.DeadLetters),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []stream.DeadLetter
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		if fs.NumRecords() == 0 {
			return out
		}
		fs.EachRecord(func(r *kgo.Record) {
			dl, err := stream.ParseDeadLetter(r)
			if err != nil {
				t.Errorf("dead letter: %v", err)
				return
			}
			out = append(out, dl)
		})
	}
}

// produceInSteps produces recs in steps of step records, 300 ms apart, in
// the background; the returned func waits until all are produced.
func produceInSteps(t *testing.T, brokers []string, recs []*kgo.Record, step int) (wait func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < len(recs); i += step {
			produce(t, brokers, recs[i:min(i+step, len(recs))])
			time.Sleep(300 * time.Millisecond)
		}
	}()
	return wg.Wait
}
