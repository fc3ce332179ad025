package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/stream/broker"
)

// DefaultPartitions is how many partitions Kafka gives each topic.
const DefaultPartitions = 8

// Kafka starts an in-process Kafka-protocol cluster (kfake, one broker)
// with the given topics of DefaultPartitions partitions each, and returns
// its seed addresses. The cluster is closed when the test ends.
func Kafka(t testing.TB, topics ...string) []string {
	t.Helper()
	return KafkaPartitions(t, DefaultPartitions, topics...)
}

// KafkaPartitions is Kafka with topics of the given number of partitions.
func KafkaPartitions(t testing.TB, partitions int32, topics ...string) []string {
	t.Helper()
	return KafkaCluster(t, partitions, topics).ListenAddrs()
}

// KafkaCluster is KafkaPartitions returning the cluster itself, for tests
// that steer it (kfake's Control functions) or need more options.
func KafkaCluster(t testing.TB, partitions int32, topics []string, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	all := []kfake.Opt{kfake.NumBrokers(1)}
	if len(topics) > 0 {
		all = append(all, kfake.SeedTopics(partitions, topics...))
	}
	c, err := kfake.NewCluster(append(all, opts...)...)
	if err != nil {
		t.Fatalf("start kfake cluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// Broker starts surge's embedded broker (stream/broker, as `surge broker`
// runs it: kfake behind a listener that keeps consumer groups recoverable
// when a member is killed mid-rebalance) in process, with the given topics
// of the given number of partitions, and returns its seed addresses. It
// allows group session timeouts down to 500 ms, for kill tests that want
// partitions to move quickly. The broker is closed when the test ends.
func Broker(t testing.TB, partitions int32, topics ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, broker.WithPartitions(int(partitions)),
		broker.WithBrokerConfigs(map[string]string{"group.min.session.timeout.ms": "500"}))
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(b.Close)
	if len(topics) > 0 {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		resps, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, 1, nil, topics...)
		if err == nil {
			err = resps.Error()
		}
		if err != nil {
			t.Fatalf("create topics %v: %v", topics, err)
		}
	}
	return b.Addrs()
}
