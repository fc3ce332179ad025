package stream

import (
	"crypto/sha256"
	"encoding/hex"
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
	// HeaderValueBytes and HeaderValueSHA256 are on a dead letter whose
	// value was cut to fit (see MaxDeadLetterBytes): the original value's
	// length and SHA-256 (hex), which identify it at its source offset.
	HeaderValueBytes  = "surge-value-bytes"
	HeaderValueSHA256 = "surge-value-sha256"
)

// MaxDeadLetterBytes bounds the key, value and headers of a dead letter.
// NewDeadLetterRecord cuts a longer value down and records the original's
// length and SHA-256 in headers, so that every dead letter fits the default
// limits on its way (franz-go's ProducerBatchMaxBytes of 1,000,012 bytes and
// Kafka's message.max.bytes of 1,048,588): a record up to the broker's
// maximum size that fails validation still reaches the dead-letter topic.
// A topic with a smaller max.message.bytes is met with ShrinkDeadLetter.
const MaxDeadLetterBytes = 900 << 10

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
	// ValueBytes and ValueSHA256 are set when Value holds only the first
	// bytes of the original value (Truncated): its length and SHA-256.
	// Such a dead letter cannot be redriven; the original is at its source
	// offset for as long as the topic retains it.
	Truncated   bool   `json:"truncated,omitempty"`
	ValueBytes  int    `json:"value_bytes,omitempty"`
	ValueSHA256 string `json:"value_sha256,omitempty"`
}

// NewDeadLetterRecord returns the record to produce to the dead-letter
// topic for dl: the original key, value and headers, plus a surge-* header
// for each field of dl. Zero times and an empty group are left out. A record
// larger than MaxDeadLetterBytes has its value cut (ShrinkDeadLetter).
func NewDeadLetterRecord(topic string, dl DeadLetter) *kgo.Record {
	r := newDeadLetterRecord(topic, dl)
	ShrinkDeadLetter(r, MaxDeadLetterBytes)
	return r
}

// DeadLetterSize is the bytes of key, value and headers of r, the part of
// its size on the wire that varies.
func DeadLetterSize(r *kgo.Record) int {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value) + 10 // lengths as varints
	}
	return n + 64 // record and batch framing
}

// ShrinkDeadLetter cuts r's value so that DeadLetterSize(r) <= limit, and
// records the original value's length and SHA-256 in headers (once: a
// second cut keeps the first one's headers). It returns false when r fits
// already or cannot shrink further (its value is empty).
func ShrinkDeadLetter(r *kgo.Record, limit int) bool {
	over := DeadLetterSize(r) - limit
	if over <= 0 || len(r.Value) == 0 {
		return false
	}
	cut := false
	for _, h := range r.Headers {
		cut = cut || h.Key == HeaderValueBytes
	}
	if !cut {
		sum := sha256.Sum256(r.Value)
		r.Headers = append(r.Headers,
			kgo.RecordHeader{Key: HeaderValueBytes, Value: []byte(strconv.Itoa(len(r.Value)))},
			kgo.RecordHeader{Key: HeaderValueSHA256, Value: []byte(hex.EncodeToString(sum[:]))})
		over += 2*10 + len(HeaderValueBytes) + len(HeaderValueSHA256) + 64 + 10
	}
	r.Value = r.Value[:max(len(r.Value)-over, 0)]
	return true
}

func newDeadLetterRecord(topic string, dl DeadLetter) *kgo.Record {
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
		case HeaderValueBytes:
			dl.ValueBytes, err = strconv.Atoi(v)
			dl.Truncated = true
		case HeaderValueSHA256:
			dl.ValueSHA256 = v
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
