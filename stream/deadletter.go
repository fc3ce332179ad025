package stream

import (
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Record headers surge writes. HeaderKind is on every record the Producer
// writes; the others are on dead letters.
const (
	HeaderKind            = "surge-kind"
	HeaderError           = "surge-error"
	HeaderSourceTopic     = "surge-source-topic"
	HeaderSourcePartition = "surge-source-partition"
	HeaderSourceOffset    = "surge-source-offset"
	HeaderGroup           = "surge-group"
	HeaderAttempts        = "surge-attempts"
	HeaderFirstFailure    = "surge-first-failure"
	HeaderLastFailure     = "surge-last-failure"
)

// MaxReasonBytes bounds the surge-error header; a longer reason is cut at a
// rune boundary and ends in "...".
const MaxReasonBytes = 4096

// failureTimeLayout is RFC 3339 with milliseconds, always in UTC.
const failureTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// ErrNotDeadLetter is returned by ParseDeadLetter for a record that lacks
// the surge-error or surge-source-topic header.
var ErrNotDeadLetter = errors.New("record is not a dead letter")

// DeadLetter is a record that could not be processed, with why and where it
// came from. The original key, value and headers are kept byte for byte so
// that the record can be redriven to its source topic unchanged.
type DeadLetter struct {
	Reason          string    `json:"reason"`
	SourceTopic     string    `json:"source_topic"`
	SourcePartition int32     `json:"source_partition"`
	SourceOffset    int64     `json:"source_offset"`
	Group           string    `json:"group,omitempty"` // consumer group that gave up, if any
	Attempts        int       `json:"attempts"`
	FirstFailure    time.Time `json:"first_failure"`
	LastFailure     time.Time `json:"last_failure"`
	Key             []byte    `json:"key"`
	Value           []byte    `json:"value"`
	// Headers are the original record's headers (such as surge-kind).
	Headers []kgo.RecordHeader `json:"headers,omitempty"`
}

// NewDeadLetterRecord returns the record to produce to the dead-letter
// topic for dl: the original key, value and headers, plus a surge-* header
// for each field of dl. Zero times and an empty group are left out.
func NewDeadLetterRecord(topic string, dl DeadLetter) *kgo.Record {
	hs := make([]kgo.RecordHeader, 0, len(dl.Headers)+8)
	hs = append(hs, dl.Headers...)
	add := func(k, v string) { hs = append(hs, kgo.RecordHeader{Key: k, Value: []byte(v)}) }
	add(HeaderError, truncateReason(dl.Reason))
	add(HeaderSourceTopic, dl.SourceTopic)
	add(HeaderSourcePartition, strconv.FormatInt(int64(dl.SourcePartition), 10))
	add(HeaderSourceOffset, strconv.FormatInt(dl.SourceOffset, 10))
	if dl.Group != "" {
		add(HeaderGroup, dl.Group)
	}
	add(HeaderAttempts, strconv.Itoa(dl.Attempts))
	if !dl.FirstFailure.IsZero() {
		add(HeaderFirstFailure, dl.FirstFailure.UTC().Format(failureTimeLayout))
	}
	if !dl.LastFailure.IsZero() {
		add(HeaderLastFailure, dl.LastFailure.UTC().Format(failureTimeLayout))
	}
	return &kgo.Record{
		Topic:   topic,
		Key:     dl.Key,
		Value:   dl.Value,
		Headers: hs,
	}
}

// ParseDeadLetter reads a record written by NewDeadLetterRecord. Headers
// other than the dead-letter ones are returned in Headers. It fails with
// ErrNotDeadLetter when the record lacks surge-error or surge-source-topic,
// and with a wrapped parse error when a header is malformed.
func ParseDeadLetter(r *kgo.Record) (DeadLetter, error) {
	dl := DeadLetter{Key: r.Key, Value: r.Value}
	var haveErr, haveTopic bool
	for _, h := range r.Headers {
		v := string(h.Value)
		var err error
		switch h.Key {
		case HeaderError:
			dl.Reason, haveErr = v, true
		case HeaderSourceTopic:
			dl.SourceTopic, haveTopic = v, true
		case HeaderSourcePartition:
			var p int64
			p, err = strconv.ParseInt(v, 10, 32)
			dl.SourcePartition = int32(p)
		case HeaderSourceOffset:
			dl.SourceOffset, err = strconv.ParseInt(v, 10, 64)
		case HeaderGroup:
			dl.Group = v
		case HeaderAttempts:
			dl.Attempts, err = strconv.Atoi(v)
		case HeaderFirstFailure:
			dl.FirstFailure, err = time.Parse(time.RFC3339Nano, v)
		case HeaderLastFailure:
			dl.LastFailure, err = time.Parse(time.RFC3339Nano, v)
		default:
			dl.Headers = append(dl.Headers, h)
		}
		if err != nil {
			return DeadLetter{}, fmt.Errorf("parse dead letter header %s: %w", h.Key, err)
		}
	}
	if !haveErr || !haveTopic {
		return DeadLetter{}, fmt.Errorf("%w: %s/%d@%d has no %s or %s header",
			ErrNotDeadLetter, r.Topic, r.Partition, r.Offset, HeaderError, HeaderSourceTopic)
	}
	return dl, nil
}

// truncateReason bounds s to MaxReasonBytes without splitting a rune.
func truncateReason(s string) string {
	if len(s) <= MaxReasonBytes {
		return s
	}
	const ellipsis = "..."
	cut := MaxReasonBytes - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}
