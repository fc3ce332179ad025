package stream_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
	"github.com/twmb/franz-go/pkg/kfake"
)

// A producer writes an order and waits for Kafka's acknowledgement. The
// example runs against an in-process broker; a real deployment passes its
// cluster's brokers to WithBrokers.
func Example() {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.SeedTopics(8, stream.DefaultTopics().All()...))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()

	// NewProducer does no network I/O; the client connects on first use.
	p, err := stream.NewProducer(stream.WithBrokers(cluster.ListenAddrs()...))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Optional: take part in order-safe partition resizes, so that
	// 'surge topics resize' keeps this producer's records in key order.
	if err := p.JoinResizes(ctx); err != nil {
		log.Fatal(err)
	}
	ack, err := p.Produce(ctx, &schemas.Order{
		EventID:   "01JDQ6Z9V1D3G5J8K2M4N6P8R0",
		OrderID:   "o-1001",
		UserID:    "u-42",
		Items:     []schemas.Item{{SKU: "tv-55", Qty: 1, UnitPrice: 49900}},
		Amount:    49900,
		Currency:  "EUR",
		CreatedAt: time.Date(2024, 11, 29, 8, 0, 0, 0, time.UTC),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("acked: topic=%s partition=%d offset=%d\n", ack.Topic, ack.Partition, ack.Offset)
	// Output: acked: topic=orders partition=1 offset=0
}
