package stream

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream/control"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const testPartitions = 8

// newCluster starts an in-process broker with surge's default topics.
func newCluster(t testing.TB) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(testPartitions, DefaultTopics().All()...))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func newTestProducer(t testing.TB, addrs []string, opts ...ProducerOpt) *Producer {
	t.Helper()
	p, err := NewProducer(append([]ProducerOpt{WithBrokers(addrs...)}, opts...)...)
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var eventTime = time.Date(2024, 11, 29, 8, 0, 0, 0, time.UTC)

func order(user string, n int) *schemas.Order {
	return &schemas.Order{
		EventID:   fmt.Sprintf("ord-ev-%s-%d", user, n),
		OrderID:   fmt.Sprintf("o-%s-%d", user, n),
		UserID:    user,
		Items:     []schemas.Item{{SKU: "sku-1", Qty: 2, UnitPrice: 1250}, {SKU: "sku-2", Qty: 1, UnitPrice: 500}},
		Amount:    3000,
		Currency:  "EUR",
		Priority:  schemas.PriorityNormal,
		CreatedAt: eventTime.Add(time.Duration(n) * time.Second),
	}
}

func orderStatus(user string, n int) *schemas.OrderStatus {
	return &schemas.OrderStatus{
		EventID: fmt.Sprintf("st-ev-%s-%d", user, n),
		OrderID: fmt.Sprintf("o-%s-%d", user, n),
		UserID:  user,
		Status:  schemas.StatusPaid,
		TS:      eventTime.Add(time.Duration(n)*time.Second + time.Millisecond),
	}
}

func userEvent(user string, n int) *schemas.UserEvent {
	return &schemas.UserEvent{
		EventID:   fmt.Sprintf("ue-ev-%s-%d", user, n),
		UserID:    user,
		SessionID: "s-" + user,
		Type:      schemas.EventAddToCart,
		SKU:       "sku-1",
		TS:        eventTime.Add(time.Duration(n) * time.Second),
	}
}

func coupon(user string, n int) *schemas.Coupon {
	return &schemas.Coupon{
		EventID:        fmt.Sprintf("cp-ev-%s-%d", user, n),
		CouponID:       fmt.Sprintf("c-%s-%d", user, n),
		UserID:         user,
		CampaignID:     "bf-2024",
		RuleID:         "third-order",
		Value:          500,
		Currency:       "EUR",
		IssuedAt:       eventTime,
		ExpiresAt:      eventTime.Add(7 * 24 * time.Hour),
		TriggerEventID: fmt.Sprintf("ord-ev-%s-%d", user, n),
	}
}

// consumeAll reads every record of topic from the start until n arrived.
func consumeAll(t testing.TB, addrs []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer cl.Close()
	ctx := testCtx(t)
	var recs []*kgo.Record
	for len(recs) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d records of %s, want %d", len(recs), topic, n)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		recs = append(recs, fs.Records()...)
	}
	return recs
}

// topicRecords returns how many records topic holds (sum of end offsets).
func topicRecords(t testing.TB, addrs []string, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(testCtx(t), topic)
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// javaPartition is the partition the Java client's default partitioner
// picks for key.
func javaPartition(key string, partitions int32) int32 {
	return control.PartitionOf(control.Murmur2(key), partitions)
}
