package dispatch_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream/dispatch"
)

// Invalid records never reach the handler: each is dead-lettered at once
// with the schemas reason and its source topic, partition and offset, and
// counted; the valid records of the same key are handled, in order, with
// the decoded event attached.
func TestInvalidRecordsDeadLettered(t *testing.T) {
	brokers := cluster(t, 2)
	valid := value("u-1", 0)
	invalid := []struct {
		name   string
		value  []byte
		reason string // in the dead letter's reason
	}{
		{"not JSON", []byte("not json"), "malformed JSON"},
		{"duplicate key", bytes.Replace(value("u-1", 1), []byte(`"amount":49900`), []byte(`"amount":-5,"amount":49900`), 1), "amount: duplicate key"},
		{"missing fields", []byte(`{"kind":"order","v":1,"event_id":"e-u-1-2","user_id":"u-1"}`), "order_id: missing"},
		{"lone surrogate", bytes.Replace(value("u-1", 3), []byte(`"user_id":"u-1"`), []byte(`"user_id":"u-\ud800"`), 1), "user_id: lone surrogate"},
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	offsets := map[string]int64{}
	produceOne := func(name string, v []byte) {
		r := &kgo.Record{Topic: topics.Orders, Key: []byte("u-1"), Value: v}
		if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		offsets[name] = r.Offset
	}
	produceOne("valid first", valid)
	for _, in := range invalid {
		produceOne(in.name, in.value)
	}
	produceOne("valid last", value("u-1", 9))

	var mu sync.Mutex
	var seen []string
	var events []schemas.Record
	opts := append(baseOpts(t, brokers, "validating"), dispatch.WithHandler(func(_ context.Context, r dispatch.Record) error {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, string(r.Value))
		events = append(events, r.Event)
		return nil
	}))
	d, stop := runDispatcher(t, opts...)
	waitFor(t, 30*time.Second, "the dead letters and the valid records", func() bool {
		s := d.Stats()
		return s.Processed == 2 && s.DeadLettered == int64(len(invalid))
	})
	stop()

	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0] != string(valid) || !strings.Contains(seen[1], `"e-u-1-9"`) {
		t.Fatalf("the handler saw %d records %q, want only the two valid ones in order", len(seen), seen)
	}
	for i, ev := range events {
		if o, ok := ev.(*schemas.Order); !ok || o.UserID != "u-1" {
			t.Errorf("record %d: got Event %#v, want the decoded order", i, ev)
		}
	}
	if s := d.Stats(); s.Invalid != int64(len(invalid)) || s.Failed != 0 {
		t.Errorf("got stats %+v, want %d invalid and no failed handler calls", s, len(invalid))
	}
	dls := deadLetters(t, brokers)
	if len(dls) != len(invalid) {
		t.Fatalf("got %d dead letters, want %d", len(dls), len(invalid))
	}
	for i, in := range invalid {
		dl := dls[i]
		if !strings.HasPrefix(dl.Reason, "invalid record: ") || !strings.Contains(dl.Reason, in.reason) {
			t.Errorf("%s: got reason %q, want %q in it", in.name, dl.Reason, in.reason)
		}
		if dl.SourceTopic != topics.Orders || dl.SourceOffset != offsets[in.name] || dl.Group != "validating" || dl.Attempts != 0 {
			t.Errorf("%s: got source %s[%d]@%d group %q attempts %d, want %s@%d, group validating, 0 attempts",
				in.name, dl.SourceTopic, dl.SourcePartition, dl.SourceOffset, dl.Group, dl.Attempts, topics.Orders, offsets[in.name])
		}
		if !bytes.Equal(dl.Value, in.value) {
			t.Errorf("%s: the dead letter's value %q is not the record's %q", in.name, dl.Value, in.value)
		}
	}
}

// WithoutValidation hands every record to the handler as it is.
func TestWithoutValidation(t *testing.T) {
	brokers := cluster(t, 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topics.Orders, Key: []byte("k"), Value: []byte("not json")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	opts := append(baseOpts(t, brokers, "raw"), dispatch.WithoutValidation(), dispatch.WithHandler(func(_ context.Context, r dispatch.Record) error {
		select {
		case got <- string(r.Value):
		default:
		}
		return nil
	}))
	_, stop := runDispatcher(t, opts...)
	defer stop()
	select {
	case v := <-got:
		if v != "not json" {
			t.Errorf("got %q, want the raw record", v)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the handler never got the record")
	}
}
