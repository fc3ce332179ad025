package testenv

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
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
