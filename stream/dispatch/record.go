package dispatch

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
)

// Headers the dispatcher reads or writes besides stream's dead-letter ones.
const (
	// HeaderNotBefore on a source record holds an RFC 3339 time before
	// which the record is not dispatched.
	HeaderNotBefore = "surge-not-before"
	// HeaderRetryDue on a parked record holds the RFC 3339 time of its next
	// attempt; absent means "as soon as its key's earlier records are done".
	HeaderRetryDue = "surge-retry-due"
)

// ErrPermanent marks a handler error that retrying cannot fix: the record
// goes to the dead-letter topic at once.
var ErrPermanent = errors.New("permanent failure")

// Permanent wraps err so that the dispatcher dead-letters the record
// without retrying it.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrPermanent, err)
}

// Lane is a record's dispatch lane.
type Lane string

// Lanes.
const (
	LanePriority Lane = "priority"
	LaneNormal   Lane = "normal"
)

// Record is what a handler receives: the record as produced to its source
// topic, with where it came from and which attempt this is.
type Record struct {
	// Topic, Partition and Offset are the record's coordinates on its
	// source topic, also when it is delivered from the group's retry topic.
	Topic     string
	Partition int32
	Offset    int64
	// Key is the record key, the user id.
	Key string
	// Value is the event JSON.
	Value []byte
	// Headers are the record's own headers (surge-kind, ...); the
	// dispatcher's bookkeeping headers are removed.
	Headers []kgo.RecordHeader
	// Timestamp is when the record was produced.
	Timestamp time.Time
	// EventID is the event's "event_id", unique per logical event: the
	// idempotency key.
	EventID string
	// Attempt is 1 on the first delivery and grows with every retry. A
	// redelivery after a crash or rebalance may repeat an attempt number.
	Attempt int
	// Lane is the lane the record was dispatched in.
	Lane Lane
	// NotBefore is the record's not-before time, zero if it has none.
	NotBefore time.Time
	// Event is the decoded, valid event (a *schemas.Order, ...): the
	// dispatcher checks every record with schemas before the handler sees
	// it. Nil with WithoutValidation.
	Event schemas.Record
}

// Decode returns the decoded event: Event, or with WithoutValidation the
// result of schemas.Decode.
func (r Record) Decode() (schemas.Record, error) {
	if r.Event != nil {
		return r.Event, nil
	}
	return schemas.Decode(r.Value)
}

// Kind is the value of the surge-kind header, "" when absent.
func (r Record) Kind() schemas.Kind {
	for _, h := range r.Headers {
		if h.Key == stream.HeaderKind {
			return schemas.Kind(h.Value)
		}
	}
	return ""
}

// IdempotencyKey is EventID, or the source coordinates for a record
// without an event id.
func (r Record) IdempotencyKey() string {
	if r.EventID != "" {
		return r.EventID
	}
	return r.Topic + "/" + strconv.Itoa(int(r.Partition)) + "@" + strconv.FormatInt(r.Offset, 10)
}

// retryMeta is what a parked record carries in its headers.
type retryMeta struct {
	source       stream.DeadLetter // SourceTopic/Partition/Offset, Attempts, failures, Reason
	due          time.Time
	notBefore    time.Time
	ownHeaders   []kgo.RecordHeader
	hasRetryMeta bool
}

const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// parseHeaders splits r's headers into its own and the dispatcher's.
func parseHeaders(r *kgo.Record) (retryMeta, error) {
	var m retryMeta
	var err error
	for _, h := range r.Headers {
		v := string(h.Value)
		switch h.Key {
		case stream.HeaderSourceTopic:
			m.source.SourceTopic, m.hasRetryMeta = v, true
		case stream.HeaderSourcePartition:
			var p int64
			p, err = strconv.ParseInt(v, 10, 32)
			m.source.SourcePartition = int32(p)
		case stream.HeaderSourceOffset:
			m.source.SourceOffset, err = strconv.ParseInt(v, 10, 64)
		case stream.HeaderAttempts:
			m.source.Attempts, err = strconv.Atoi(v)
		case stream.HeaderFirstFailure:
			m.source.FirstFailure, err = time.Parse(time.RFC3339Nano, v)
		case stream.HeaderLastFailure:
			m.source.LastFailure, err = time.Parse(time.RFC3339Nano, v)
		case stream.HeaderError:
			m.source.Reason = v
		case stream.HeaderGroup:
		case HeaderRetryDue:
			m.due, err = time.Parse(time.RFC3339Nano, v)
		case HeaderNotBefore:
			m.notBefore, err = time.Parse(time.RFC3339Nano, v)
			m.ownHeaders = append(m.ownHeaders, h)
		default:
			m.ownHeaders = append(m.ownHeaders, h)
		}
		if err != nil {
			return m, fmt.Errorf("header %s=%q: %w", h.Key, v, err)
		}
	}
	return m, nil
}

// retryRecord is the record that parks rec in the retry topic: the
// original key, value and headers plus the source coordinates, attempts so
// far, failure times, last error and due time (x nil: parked with no
// attempts).
func retryRecord(topic string, group string, rec Record, x *taskExtra, due time.Time) *kgo.Record {
	hs := make([]kgo.RecordHeader, 0, len(rec.Headers)+9)
	hs = append(hs, rec.Headers...)
	add := func(k, v string) { hs = append(hs, kgo.RecordHeader{Key: k, Value: []byte(v)}) }
	add(stream.HeaderSourceTopic, rec.Topic)
	add(stream.HeaderSourcePartition, strconv.Itoa(int(rec.Partition)))
	add(stream.HeaderSourceOffset, strconv.FormatInt(rec.Offset, 10))
	add(stream.HeaderGroup, group)
	attempts := 0
	if x != nil {
		attempts = x.attempts
	}
	add(stream.HeaderAttempts, strconv.Itoa(attempts))
	if attempts > 0 {
		add(stream.HeaderFirstFailure, x.firstFailure.UTC().Format(timeLayout))
		add(stream.HeaderLastFailure, x.lastFailure.UTC().Format(timeLayout))
		add(stream.HeaderError, truncate(x.lastErr))
		add(HeaderRetryDue, due.UTC().Format(timeLayout))
	}
	return &kgo.Record{Topic: topic, Partition: rec.Partition, Key: []byte(rec.Key), Value: rec.Value,
		Headers: hs, Timestamp: rec.Timestamp}
}

func truncate(s string) string {
	if len(s) > 1024 {
		return s[:1024]
	}
	return s
}
