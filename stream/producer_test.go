package stream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream/control"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Kafka's own test vectors for Utils.murmur2 (UtilsTest.testMurmur2), checked
// against surge's murmur2, by which the tests place keys independently of kgo.
func TestMurmur2MatchesJavaClient(t *testing.T) {
	tests := []struct {
		in   string
		want int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
	}
	for _, tt := range tests {
		if got := int32(control.Murmur2(tt.in)); got != tt.want {
			t.Errorf("murmur2(%q): got %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestProduceKeysPartitionsAndOrder(t *testing.T) {
	addrs := newCluster(t)
	p := newTestProducer(t, addrs)
	ctx := testCtx(t)

	users := []string{"u-1", "u-2", "u-3", "alice", "bob", "carol@example.com", "ユーザー"}
	const perUser = 5
	type sent struct {
		user string
		kind schemas.Kind
		id   string
		ack  Ack
	}
	var all []sent
	for i := range perUser {
		for _, u := range users {
			for _, r := range []schemas.Record{order(u, i), orderStatus(u, i), userEvent(u, i), coupon(u, i)} {
				ack, err := p.Produce(ctx, r)
				if err != nil {
					t.Fatalf("Produce %s %s: %v", r.Kind(), r.ID(), err)
				}
				all = append(all, sent{u, r.Kind(), r.ID(), ack})
			}
		}
	}

	lastOffset := map[string]int64{} // topic+user -> last offset
	for _, s := range all {
		if want := DefaultTopics().For(s.kind); s.ack.Topic != want {
			t.Errorf("%s: got topic %q, want %q", s.id, s.ack.Topic, want)
		}
		if want := javaPartition(s.user, testPartitions); s.ack.Partition != want {
			t.Errorf("%s of user %q: got partition %d, want %d (murmur2 like the Java client)",
				s.id, s.user, s.ack.Partition, want)
		}
		k := s.ack.Topic + "/" + s.user
		if last, ok := lastOffset[k]; ok && s.ack.Offset <= last {
			t.Errorf("%s: got offset %d after %d, want increasing offsets per user", s.id, s.ack.Offset, last)
		}
		lastOffset[k] = s.ack.Offset
	}

	// The orders topic holds orders and statuses, keyed by user, tagged
	// with their kind, and decodable.
	want := 2 * perUser * len(users)
	recs := consumeAll(t, addrs, "orders", want)
	if len(recs) != want {
		t.Fatalf("got %d records on orders, want %d", len(recs), want)
	}
	for _, r := range recs {
		dec, err := schemas.Decode(r.Value)
		if err != nil {
			t.Fatalf("decode %s/%d@%d: %v", r.Topic, r.Partition, r.Offset, err)
		}
		if string(r.Key) != dec.Key() {
			t.Errorf("record %s: got key %q, want user id %q", dec.ID(), r.Key, dec.Key())
		}
		if len(r.Headers) != 1 || r.Headers[0].Key != HeaderKind || string(r.Headers[0].Value) != string(dec.Kind()) {
			t.Errorf("record %s: got headers %v, want %s=%s", dec.ID(), r.Headers, HeaderKind, dec.Kind())
		}
	}
}

func TestProduceRejectsInvalid(t *testing.T) {
	addrs := newCluster(t)
	p := newTestProducer(t, addrs)
	ctx := testCtx(t)

	noUser := order("x", 1)
	noUser.UserID = ""
	badAmount := order("x", 1)
	badAmount.Amount = 1
	badEvent := userEvent("x", 1)
	badEvent.Type = "teleport"
	tests := []struct {
		name    string
		rec     schemas.Record
		wantErr error
		wantMsg string
	}{
		{"missing user", noUser, schemas.ErrInvalid, "user_id: missing"},
		{"amount mismatch", badAmount, schemas.ErrInvalid, "amount"},
		{"unknown event type", badEvent, schemas.ErrInvalid, "type"},
		{"nil", nil, schemas.ErrInvalid, "nil record"},
		{"typed nil", (*schemas.Coupon)(nil), schemas.ErrInvalid, "nil record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.Produce(ctx, tt.rec)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Produce: got error %v, want %v mentioning %q", err, tt.wantErr, tt.wantMsg)
			}

			var called bool
			p.ProduceAsync(ctx, tt.rec, func(_ Ack, err error) {
				called = true
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("ProduceAsync: got error %v, want %v", err, tt.wantErr)
				}
			})
			if !called {
				t.Errorf("ProduceAsync returned before reporting the invalid record, want done called first")
			}
		})
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	for _, topic := range DefaultTopics().All() {
		if n := topicRecords(t, addrs, topic); n != 0 {
			t.Errorf("topic %s: got %d records after invalid produces, want 0", topic, n)
		}
	}
}

func TestProduceAsyncAndRaw(t *testing.T) {
	addrs := newCluster(t)
	p := newTestProducer(t, addrs, WithLinger(20*time.Millisecond))
	ctx := testCtx(t)

	const n = 200
	var (
		mu   sync.Mutex
		acks []Ack
		errs []error
	)
	done := func(a Ack, err error) {
		mu.Lock()
		defer mu.Unlock()
		acks = append(acks, a)
		if err != nil {
			errs = append(errs, err)
		}
	}
	for i := range n {
		p.ProduceAsync(ctx, userEvent(fmt.Sprintf("u-%d", i%10), i), done)
	}
	for i := range n {
		p.ProduceRaw(ctx, "coupons", []byte("raw-key"), fmt.Appendf(nil, "raw-%d", i), done)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	mu.Lock()
	if len(acks) != 2*n || len(errs) != 0 {
		t.Fatalf("got %d acks and errors %v, want %d acks and none", len(acks), errs, 2*n)
	}
	mu.Unlock()

	raw := consumeAll(t, addrs, "coupons", n)
	for i, r := range raw {
		if want := fmt.Sprintf("raw-%d", i); string(r.Value) != want || string(r.Key) != "raw-key" {
			t.Errorf("raw record %d: got %s=%s, want raw-key=%s in produce order", i, r.Key, r.Value, want)
		}
	}
	if got := topicRecords(t, addrs, "user-events"); got != n {
		t.Errorf("user-events: got %d records, want %d", got, n)
	}
}

// One caller giving up must not fail another caller's record that shares
// its batch.
func TestCancelledCallerDoesNotFailBatch(t *testing.T) {
	addrs := newCluster(t)
	p := newTestProducer(t, addrs, WithLinger(300*time.Millisecond))

	cctx, cancel := context.WithCancel(context.Background())
	results := make(chan error, 2)
	report := func(_ Ack, err error) { results <- err }
	p.ProduceAsync(cctx, order("same-user", 1), report) // first in the batch
	p.ProduceAsync(context.Background(), order("same-user", 2), report)
	cancel() // before the linger ends and the batch is sent

	for range 2 {
		select {
		case err := <-results:
			if err != nil {
				t.Errorf("got error %v, want both records acked despite the cancelled context", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no result within 10s")
		}
	}
	if n := topicRecords(t, addrs, "orders"); n != 2 {
		t.Errorf("orders: got %d records, want 2", n)
	}
}

func TestProduceWaitRespectsContext(t *testing.T) {
	addrs := newCluster(t)
	p := newTestProducer(t, addrs, WithLinger(2*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Produce(ctx, order("u", 1))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got error %v, want %v", err, context.DeadlineExceeded)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Produce returned after %v, want about the 50ms deadline", d)
	}
}

func TestProducerClose(t *testing.T) {
	addrs := newCluster(t)
	shared, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	p, err := NewProducer(WithClient(shared))
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	ctx := testCtx(t)
	if _, err := p.Produce(ctx, order("u", 1)); err != nil {
		t.Fatalf("Produce: %v", err)
	}
	p.Close()
	p.Close() // idempotent
	if _, err := p.Produce(ctx, order("u", 2)); !errors.Is(err, ErrProducerClosed) {
		t.Errorf("Produce after Close: got %v, want %v", err, ErrProducerClosed)
	}
	// The shared client stays open.
	if err := shared.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("x")}).FirstErr(); err != nil {
		t.Errorf("shared client after Producer.Close: got %v, want it still usable", err)
	}
}

func TestNewProducerErrors(t *testing.T) {
	leaderAcks, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	if err != nil {
		t.Fatal(err)
	}
	defer leaderAcks.Close()
	okClient, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer okClient.Close()

	tests := []struct {
		name    string
		opts    []ProducerOpt
		wantErr error
		wantMsg string
	}{
		{"no brokers", nil, ErrNoBrokers, ""},
		{"bad compression", []ProducerOpt{WithBrokers("x:1"), WithCompression("brotli")}, nil, `compression "brotli"`},
		{"negative linger", []ProducerOpt{WithBrokers("x:1"), WithLinger(-1)}, nil, "linger"},
		{"unnamed topics", []ProducerOpt{WithBrokers("x:1"), WithTopics(Topics{Orders: "o"})}, nil, "must be named"},
		{"client and linger", []ProducerOpt{WithClient(okClient), WithLinger(time.Second)}, nil, "WithLinger cannot be combined with WithClient"},
		{"shared client not durable", []ProducerOpt{WithClient(leaderAcks)}, ErrNotDurable, "acks"},
		{"own client weakened", []ProducerOpt{WithBrokers("x:1"), WithClientOpts(kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())}, ErrNotDurable, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewProducer(tt.opts...)
			if err == nil {
				p.Close()
				t.Fatalf("got no error, want %v %q", tt.wantErr, tt.wantMsg)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("got error %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("got error %q, want it to contain %q", err, tt.wantMsg)
			}
		})
	}
}

func TestCompressionCodecs(t *testing.T) {
	addrs := newCluster(t)
	for _, name := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run(name, func(t *testing.T) {
			p := newTestProducer(t, addrs, WithCompression(name))
			if _, err := p.Produce(testCtx(t), order("codec-"+name, 1)); err != nil {
				t.Errorf("Produce with %s: %v", name, err)
			}
		})
	}
	if got := topicRecords(t, addrs, "orders"); got != 5 {
		t.Errorf("orders: got %d records, want 5", got)
	}
}

func BenchmarkProduceAsync(b *testing.B) {
	addrs := newCluster(b)
	p := newTestProducer(b, addrs)
	ctx := context.Background()
	recs := make([]schemas.Record, 64)
	for i := range recs {
		recs[i] = userEvent(fmt.Sprintf("u-%d", i), i)
	}
	var failed sync.Once
	done := func(_ Ack, err error) {
		if err != nil {
			failed.Do(func() { b.Error(err) })
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		p.ProduceAsync(ctx, recs[i%len(recs)], done)
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
}
