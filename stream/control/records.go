package control

import (
	"fmt"
	"time"

	"github.com/segmentio/encoding/json"
)

// DefaultTopic is the control topic unless an option names another: one
// partition, compacted, created on demand by the first participant.
const DefaultTopic = "surge-control"

// Kind says what a control record is.
type Kind string

// The control record kinds.
const (
	// KindHeartbeat: a producer is alive (every DefaultHeartbeat) or, with
	// Closed, gone for good. Key "producer/<id>".
	KindHeartbeat Kind = "heartbeat"
	// KindGroup registers a consumer group of surge (dispatch, triggers,
	// sink) and the topics it consumes. Key "group/<name>".
	KindGroup Kind = "group"
	// KindBegin announces a resize before CreatePartitions is sent. Key
	// "resize/<id>/begin".
	KindBegin Kind = "resize_begin"
	// KindCreated says the partitions exist now. Key "resize/<id>/created".
	KindCreated Kind = "partitions_created"
	// KindSwitched is a producer's ack: every record it partitioned with
	// the old count is acked, and it partitions with the new count from
	// now on. Key "resize/<id>/switched/<producer>".
	KindSwitched Kind = "switched"
	// KindBarrier carries the old partitions' end offsets taken after
	// every live producer switched. Key "resize/<id>/barrier".
	KindBarrier Kind = "barrier"
)

// Record is one control record, its value JSON. Fields a kind does not use
// are left empty.
type Record struct {
	Kind Kind      `json:"kind"`
	Time time.Time `json:"time"`

	// Heartbeats.
	Producer string   `json:"producer,omitempty"`
	Client   string   `json:"client,omitempty"`
	Closed   bool     `json:"closed,omitempty"`
	Topics   []string `json:"topics,omitempty"`

	// Group registrations.
	Group     string `json:"group,omitempty"`
	Component string `json:"component,omitempty"`

	// Resizes.
	Resize    string   `json:"resize,omitempty"`
	Topic     string   `json:"topic,omitempty"`
	TopicID   string   `json:"topic_id,omitempty"`
	Old       int32    `json:"old,omitempty"`
	New       int32    `json:"new,omitempty"`
	OrderSafe bool     `json:"order_safe,omitempty"`
	Offsets   []int64  `json:"offsets,omitempty"`
	Missing   []string `json:"missing,omitempty"`
}

// Key is the record's compaction key: the latest record per key is all a
// reader needs, so the compacted topic stays small.
func (r Record) Key() string {
	switch r.Kind {
	case KindHeartbeat:
		return "producer/" + r.Producer
	case KindGroup:
		return "group/" + r.Group
	case KindBegin:
		return "resize/" + r.Resize + "/begin"
	case KindCreated:
		return "resize/" + r.Resize + "/created"
	case KindSwitched:
		return "resize/" + r.Resize + "/switched/" + r.Producer
	case KindBarrier:
		return "resize/" + r.Resize + "/barrier"
	}
	return "other/" + string(r.Kind)
}

func encode(r Record) ([]byte, error) { return json.Marshal(r) }

func decode(b []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, fmt.Errorf("decode control record: %w", err)
	}
	return r, nil
}

// ResizeID names the resize of topic (whose Kafka topic id is topicID)
// from old to new partitions. It is the same on every run of the same
// resize, so an interrupted resize is completed by running it again, and it
// differs for a topic deleted and created again under the same name.
func ResizeID(topic, topicID string, old, new int32) string {
	if len(topicID) > 8 {
		topicID = topicID[:8]
	}
	return fmt.Sprintf("%s@%s:%d-%d", topic, topicID, old, new)
}
