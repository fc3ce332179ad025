package dispatch_test

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/dispatch"
)

// An in-process service: a Go handler receiving the orders of its group at
// least once, in per-user order, with a dedup window for redeliveries.
func Example() {
	c, _ := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "orders", "orders-priority", "dead-letters"),
		kfake.GroupMinSessionTimeout(500*time.Millisecond))
	defer c.Close()
	brokers := c.ListenAddrs()

	p, _ := kgo.NewClient(kgo.SeedBrokers(brokers...))
	defer p.Close()
	_ = p.ProduceSync(context.Background(), &kgo.Record{Topic: "orders", Key: []byte("u-42"),
		Value: []byte(`{"kind":"order","v":1,"event_id":"01JDQ3Z8M4X7N2K9P5R6T8V0WY","order_id":"o-1","user_id":"u-42",` +
			`"items":[{"sku":"tv-55","qty":1,"unit_price":49900}],"amount":49900,"currency":"EUR","created_at":"2024-11-29T08:00:00Z"}`)}).FirstErr()

	ctx, cancel := context.WithCancel(context.Background())
	dedup := dispatch.NewDedup(100_000)
	d, err := dispatch.New(
		dispatch.WithClient(stream.ClientConfig{Brokers: brokers}),
		dispatch.WithGroup("inventory"),
		dispatch.WithGroupTimeouts(time.Second, 2*time.Second),
		dispatch.WithHandler(dedup.Wrap(func(ctx context.Context, r dispatch.Record) error {
			fmt.Printf("reserve stock for %s (user %s, attempt %d)\n", r.EventID, r.Key, r.Attempt)
			cancel() // one record is enough for the example
			return nil
		})),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := d.Run(ctx); err != nil {
		fmt.Println(err)
	}
	fmt.Println("processed:", d.Stats().Processed)
	// Output:
	// reserve stock for 01JDQ3Z8M4X7N2K9P5R6T8V0WY (user u-42, attempt 1)
	// processed: 1
}
