package gateway

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/loadgen"
)

// The sender fits loadgen.Sender.
var _ loadgen.Sender = (*HTTPSender)(nil).Send

// recordingSender notes, per user and topic, the order in which records
// were handed over, then passes them on.
type recordingSender struct {
	mu     sync.Mutex
	topics stream.Topics
	order  map[string][]string // topic "|" user -> event ids
	next   loadgen.Sender
}

func (r *recordingSender) send(ctx context.Context, rec schemas.Record, done func(error)) {
	r.mu.Lock()
	k := r.topics.Route(rec) + "|" + rec.Key()
	r.order[k] = append(r.order[k], rec.ID())
	r.mu.Unlock()
	r.next(ctx, rec, done)
}

// The load generator drives traffic through the gateway over HTTP: every
// record is acknowledged, Kafka holds each exactly once, and each user's
// records are in Kafka in the order they were generated.
func TestHTTPSenderWithLoadgen(t *testing.T) {
	tests := []struct {
		name string
		n    int
		opts []Opt
	}{
		{"plain", 4000, nil},
		{"rate limited: retries after 429", 800, []Opt{WithRateLimit(2000, 200)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cluster(t)
			addrs := c.ListenAddrs()
			g := startGateway(t, addrs, tt.opts...)
			s, err := NewHTTPSender(g.url, shopSecret, WithLanes(8))
			if err != nil {
				t.Fatal(err)
			}
			rec := &recordingSender{topics: stream.DefaultTopics(), order: map[string][]string{}, next: s.Send}
			n := int64(tt.n)
			gen, err := loadgen.New(loadgen.Config{MaxRecords: n, Seed: 7, Users: 300}, rec.send)
			if err != nil {
				t.Fatal(err)
			}
			st, err := gen.Run(testCtx(t))
			s.Close()
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if st.Acked != n || st.Failed != 0 {
				t.Fatalf("got %d acked, %d failed, want %d acked", st.Acked, st.Failed, n)
			}
			if got := dataRecords(t, addrs); got != n {
				t.Fatalf("Kafka holds %d records, want %d (count in Kafka == acknowledged)", got, n)
			}
			got := map[string][]string{}
			seen := map[string]bool{}
			for _, r := range consume(t, addrs, int(n), stream.DefaultTopics().Data()...) {
				rc, err := schemas.Decode(r.Value)
				if err != nil {
					t.Fatalf("record in %s: %v", r.Topic, err)
				}
				if seen[rc.ID()] {
					t.Errorf("event %s is in Kafka twice", rc.ID())
				}
				seen[rc.ID()] = true
				k := r.Topic + "|" + string(r.Key)
				got[k] = append(got[k], rc.ID())
			}
			for k, want := range rec.order {
				if !slices.Equal(got[k], want) {
					t.Errorf("%s: got order %v, want %v", k, got[k], want)
					break
				}
			}
		})
	}
}

func TestHTTPSenderErrors(t *testing.T) {
	c := cluster(t)
	g := startGateway(t, c.ListenAddrs())
	s, err := NewHTTPSender(g.url, "sk_wrong", WithMaxRetries(1))
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 2)
	ev, _ := schemas.DecodeUserEvent([]byte(eventJSON("u-1", "")))
	s.Send(testCtx(t), ev, func(err error) { errc <- err })
	var ae *APIError
	if err := <-errc; !errors.As(err, &ae) || ae.Code != CodeUnauthorized {
		t.Errorf("wrong key: got %v, want %s", err, CodeUnauthorized)
	}
	s.Close()
	s.Send(testCtx(t), ev, func(err error) { errc <- err })
	if err := <-errc; !errors.Is(err, ErrSenderClosed) {
		t.Errorf("after Close: got %v, want ErrSenderClosed", err)
	}
	if _, err := NewHTTPSender("localhost:8080", ""); err == nil {
		t.Error("base URL without scheme: got no error")
	}
}
