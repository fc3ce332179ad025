package admin

import (
	"strconv"

	"github.com/surgeio/surge/stream"
)

// Retention and compression surge's topics are created with.
const (
	// DataRetention keeps orders, user events and coupons for 7 days:
	// long enough to replay a whole campaign week into ClickHouse or a
	// new consumer group.
	DataRetention = 7 * 24 * 60 * 60 * 1000 // ms
	// DeadLetterRetention keeps dead letters for 30 days, time for an
	// operator to inspect, fix and redrive them.
	DeadLetterRetention = 30 * 24 * 60 * 60 * 1000 // ms
	// Compression is the topics' compression.type. It matches the
	// Producer's default codec, so brokers store batches as written
	// rather than recompressing them.
	Compression = "lz4"
)

// TopicSpec is what a topic should look like.
type TopicSpec struct {
	Name string `json:"name"`
	// Partitions is the partition count; -1 asks for the broker default.
	Partitions int32 `json:"partitions"`
	// ReplicationFactor is the replica count; -1 asks for the broker
	// default. It cannot exceed the number of brokers.
	ReplicationFactor int16 `json:"replication_factor"`
	// Configs are topic configs such as "retention.ms".
	Configs map[string]string `json:"configs,omitempty"`
}

// DefaultSpecs returns the specs of surge's topics for a cluster where data
// topics get partitions partitions and every topic replication replicas
// (-1: the broker defaults).
//
// Orders, user events and coupons are deleted after DataRetention with
// cleanup.policy=delete. Coupons are deliberately not compacted: they are
// keyed by user id, and compaction would keep only a user's latest coupon,
// while every issued coupon is a fact the sink and the reports need.
//
// Dead letters get a quarter of the partitions (at least one; they are a
// trickle, and their order matters less than the data topics') and
// DeadLetterRetention.
//
// With a replication factor of 2 or more, min.insync.replicas is set so
// that an acks=all write survives the loss of one broker (2 for three or
// more replicas, 1 for two).
func DefaultSpecs(t stream.Topics, partitions int32, replication int16) []TopicSpec {
	dlParts := partitions
	if partitions > 0 {
		dlParts = max(1, partitions/4)
	}
	data := func(name string) TopicSpec {
		return TopicSpec{
			Name:              name,
			Partitions:        partitions,
			ReplicationFactor: replication,
			Configs:           topicConfigs(DataRetention, replication),
		}
	}
	var specs []TopicSpec
	for _, name := range []string{t.Orders, t.OrdersPriority, t.UserEvents, t.Coupons} {
		if name != "" {
			specs = append(specs, data(name))
		}
	}
	if t.DeadLetters != "" {
		specs = append(specs, TopicSpec{
			Name:              t.DeadLetters,
			Partitions:        dlParts,
			ReplicationFactor: replication,
			Configs:           topicConfigs(DeadLetterRetention, replication),
		})
	}
	return specs
}

func topicConfigs(retentionMS int64, replication int16) map[string]string {
	cfgs := map[string]string{
		"cleanup.policy":   "delete",
		"retention.ms":     strconv.FormatInt(retentionMS, 10),
		"compression.type": Compression,
	}
	if replication >= 2 {
		cfgs["min.insync.replicas"] = strconv.Itoa(int(min(2, replication-1)))
	}
	return cfgs
}
