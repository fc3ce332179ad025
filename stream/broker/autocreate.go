package broker

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// InternalPrefix starts the names Kafka keeps for its own topics
// (__consumer_offsets, __transaction_state, ...). The broker never creates
// such a topic because a client asked for its metadata.
const InternalPrefix = "__"

// IsInternal reports whether topic is named like one of Kafka's internal
// topics.
func IsInternal(topic string) bool { return strings.HasPrefix(topic, InternalPrefix) }

// controlRotate is how many requests a kept control function serves before
// it is replaced by a fresh one: kfake remembers the last request of every
// connection a control function saw, for as long as the function is kept.
const controlRotate = 1024

// guardAutoCreate keeps metadata requests from creating topics named like
// Kafka's internal ones. librdkafka clients (kcat, Burrow) ask for
// __consumer_offsets by name; with auto-creation on, the broker would make
// an ordinary empty topic of that name and keep it. A request naming such
// a topic is served with auto-creation off, so that name gets
// UNKNOWN_TOPIC_OR_PARTITION; the other missing topics the request would
// have created are created first, so they are answered as before.
func guardAutoCreate(c *kfake.Cluster) {
	var served int
	c.ControlKey(int16(kmsg.Metadata), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if served++; served == controlRotate {
			c.DropControl()
			guardAutoCreate(c)
		}
		req, ok := kreq.(*kmsg.MetadataRequest)
		if !ok || !req.AllowAutoTopicCreation {
			return nil, nil, false
		}
		var internal bool
		var others []string
		for _, t := range req.Topics {
			switch {
			case t.Topic == nil:
			case IsInternal(*t.Topic):
				internal = true
			default:
				others = append(others, *t.Topic)
			}
		}
		if !internal {
			return nil, nil, false
		}
		req.AllowAutoTopicCreation = false
		for _, t := range others {
			if c.TopicInfo(t) != nil {
				continue
			}
			// A topic that cannot be created is answered as
			// unknown, as it would be had the broker failed to
			// create it.
			_ = c.CreateTopic(t, -1, nil)
		}
		return nil, nil, false
	})
}
