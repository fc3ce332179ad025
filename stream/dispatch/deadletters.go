package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
)

// DeadLetterEntry is one dead letter with where it sits in the dead-letter
// topic.
type DeadLetterEntry struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
	stream.DeadLetter
	EventID string `json:"event_id"`
	// Redriven is when the dead letter was redriven for its group, zero if
	// never.
	Redriven time.Time `json:"redriven,omitzero"`
}

// ID names the entry in the dead-letter topic: "<partition>@<offset>".
func (e DeadLetterEntry) ID() string {
	return strconv.Itoa(int(e.Partition)) + "@" + strconv.FormatInt(e.Offset, 10)
}

// Filter selects dead letters; empty fields match everything.
type Filter struct {
	Key           string // record key (user id), exact
	Topic         string // source topic, exact
	EventID       string // event id, exact
	ID            string // "<partition>@<offset>" in the dead-letter topic
	ErrorContains string // substring of the reason
	Redriven      *bool  // redriven or not
}

// ParseFilter reads --filter terms: key=, topic=, event=, id=, error~ (a
// substring), redriven=true|false.
func ParseFilter(terms []string) (Filter, error) {
	var f Filter
	for _, term := range terms {
		if k, v, ok := strings.Cut(term, "~"); ok && k == "error" {
			f.ErrorContains = v
			continue
		}
		k, v, ok := strings.Cut(term, "=")
		if !ok {
			return f, fmt.Errorf("filter %q: want key=, topic=, event=, id=, redriven= or error~", term)
		}
		switch k {
		case "key":
			f.Key = v
		case "topic":
			f.Topic = v
		case "event", "event_id":
			f.EventID = v
		case "id":
			f.ID = v
		case "redriven":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return f, fmt.Errorf("filter %q: want true or false", term)
			}
			f.Redriven = &b
		default:
			return f, fmt.Errorf("filter %q: unknown field %q (key, topic, event, id, redriven, error~)", term, k)
		}
	}
	return f, nil
}

func (f *Filter) match(e DeadLetterEntry) bool {
	if f == nil {
		return true
	}
	return (f.Key == "" || string(e.Key) == f.Key) &&
		(f.Topic == "" || e.SourceTopic == f.Topic) &&
		(f.EventID == "" || e.EventID == f.EventID) &&
		(f.ID == "" || e.ID() == f.ID) &&
		(f.ErrorContains == "" || strings.Contains(e.Reason, f.ErrorContains)) &&
		(f.Redriven == nil || *f.Redriven == !e.Redriven.IsZero())
}

// ListDeadLetters reads the dead-letter topic dlTopic from its start to its
// current end and returns the dead letters of group (all groups when group
// is empty) that match f, in topic order per partition, with when each was
// redriven.
func ListDeadLetters(ctx context.Context, cfg stream.ClientConfig, dlTopic, group string, f *Filter) ([]DeadLetterEntry, error) {
	var redriven map[string]time.Time
	if group != "" {
		var err error
		if redriven, err = readRedriven(ctx, cfg, group); err != nil {
			return nil, err
		}
	}
	var out []DeadLetterEntry
	err := readAll(ctx, cfg, dlTopic, func(r *kgo.Record) {
		dl, err := stream.ParseDeadLetter(r)
		if err != nil || (group != "" && dl.Group != group) {
			return
		}
		e := DeadLetterEntry{Partition: r.Partition, Offset: r.Offset, DeadLetter: dl, EventID: schemas.EventID(dl.Value)}
		e.Redriven = redriven[e.ID()]
		if f.match(e) {
			out = append(out, e)
		}
	})
	return out, err
}

// readRedriven reads group's redrive log: dead-letter ids and when they
// were redriven.
func readRedriven(ctx context.Context, cfg stream.ClientConfig, group string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := readAll(ctx, cfg, RedrivenTopic(group), func(r *kgo.Record) {
		ts, err := time.Parse(time.RFC3339Nano, string(r.Value))
		if err != nil {
			ts = r.Timestamp
		}
		out[string(r.Key)] = ts
	})
	if errors.Is(err, errNoTopic) {
		return out, nil
	}
	return out, err
}

var errNoTopic = errors.New("topic does not exist")

// readAll calls fn for every record of topic up to its end offsets at the
// time of the call.
func readAll(ctx context.Context, cfg stream.ClientConfig, topic string, fn func(*kgo.Record)) error {
	cl, err := cfg.NewClient(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return fmt.Errorf("create kafka client: %w", err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	if ends.Error() != nil {
		if errors.Is(ends.Error(), kerr.UnknownTopicOrPartition) {
			return fmt.Errorf("%s: %w", topic, errNoTopic)
		}
		return fmt.Errorf("list end offsets of %s: %w", topic, ends.Error())
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		if fs.IsClientClosed() {
			return errors.New("client closed")
		}
		fs.EachError(func(t string, p int32, e error) { err = fmt.Errorf("read %s[%d]: %w", t, p, e) })
		if err != nil {
			return err
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := left[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			fn(r)
			if r.Offset+1 >= end {
				delete(left, r.Partition)
			}
		})
	}
	return nil
}

// RedriveTarget says where redriven dead letters go.
type RedriveTarget string

// Redrive targets.
const (
	// ToGroup replays to the group's own handler only, through its retry
	// topic: other groups do not see the record again.
	ToGroup RedriveTarget = "group"
	// ToSource produces the record back to its source topic, where every
	// group consuming it receives it again.
	ToSource RedriveTarget = "source"
)

// RedriveReport says what a redrive did.
type RedriveReport struct {
	Matched  int `json:"matched"`  // dead letters of the group matching the filter
	Redriven int `json:"redriven"` // replayed now
	Skipped  int `json:"skipped"`  // redriven before, left alone
	// Truncated counts dead letters left alone because they hold only the
	// first bytes of their value (stream.MaxDeadLetterBytes): replaying
	// them would replay a cut record. Their originals are at their source
	// offsets; TruncatedIDs names them.
	Truncated    int      `json:"truncated"`
	TruncatedIDs []string `json:"truncated_ids,omitempty"`
	IDs          []string `json:"ids"` // ids replayed now
}

// Redrive replays group's dead letters matching f to target, each at most
// once: every replayed dead letter is recorded (after its replay is acked)
// in the compacted topic RedrivenTopic(group), and a later redrive skips
// what is recorded there. A crash between a replay and its record may
// replay that one dead letter again, which the handler's idempotency key
// (the event id) absorbs.
func Redrive(ctx context.Context, cfg stream.ClientConfig, dlTopic, group string, f *Filter, target RedriveTarget) (RedriveReport, error) {
	var rep RedriveReport
	if group == "" {
		return rep, errors.New("redrive needs a group")
	}
	entries, err := ListDeadLetters(ctx, cfg, dlTopic, group, f)
	if err != nil {
		return rep, err
	}
	cl, err := cfg.NewClient() // murmur2 by key, as the Producer
	if err != nil {
		return rep, fmt.Errorf("create kafka client: %w", err)
	}
	defer cl.Close()
	rcl, err := cfg.NewClient(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return rep, fmt.Errorf("create kafka client: %w", err)
	}
	defer rcl.Close()
	adm := kadm.NewClient(cl)
	compact := "compact"
	if err := ensureTopic(ctx, adm, RedrivenTopic(group), 1, map[string]*string{"cleanup.policy": &compact}); err != nil {
		return rep, err
	}
	rep.Matched = len(entries)
	for _, e := range entries {
		if !e.Redriven.IsZero() {
			rep.Skipped++
			continue
		}
		if e.Truncated {
			rep.Truncated++
			rep.TruncatedIDs = append(rep.TruncatedIDs, e.ID())
			continue
		}
		var r *kgo.Record
		pc := rcl
		switch target {
		case ToSource:
			r = &kgo.Record{Topic: e.SourceTopic, Key: e.Key, Value: e.Value, Headers: e.Headers}
			pc = cl
		default:
			// Parked with no attempts: the group's dispatcher hands it to
			// the handler after the key's earlier parked records.
			r = retryRecord(RetryTopic(group, e.SourceTopic), group, Record{
				Topic: e.SourceTopic, Partition: e.SourcePartition, Offset: e.SourceOffset,
				Key: string(e.Key), Value: e.Value, Headers: e.Headers}, nil, time.Time{})
		}
		if err := pc.ProduceSync(ctx, r).FirstErr(); err != nil {
			return rep, fmt.Errorf("redrive %s: %w", e.ID(), err)
		}
		mark := &kgo.Record{Topic: RedrivenTopic(group), Key: []byte(e.ID()),
			Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))}
		if err := cl.ProduceSync(ctx, mark).FirstErr(); err != nil {
			return rep, fmt.Errorf("record redrive of %s: %w", e.ID(), err)
		}
		rep.Redriven++
		rep.IDs = append(rep.IDs, e.ID())
	}
	return rep, nil
}
