package gateway

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/surgeio/surge/stream"
)

func TestRetryReturnsTheSameResult(t *testing.T) {
	c := cluster(t)
	addrs := c.ListenAddrs()
	g := startGateway(t, addrs)
	tests := []struct {
		name    string
		path    string
		body    []byte
		headers []string
	}{
		{"order keyed by order id", "/v1/orders", orderJSON(), nil},
		{"order with Idempotency-Key", "/v1/orders", orderJSON(), []string{"Idempotency-Key", "client-key-1"}},
		{"event keyed by event id", "/v1/events", []byte(eventJSON("u-7", "")), nil},
		{"event with X-API-Key", "/v1/events", []byte(eventJSON("u-7", "")), []string{"Authorization", "", "X-API-Key", shopSecret}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n0 := dataRecords(t, addrs)
			h := append(auth(shopSecret), tt.headers...)
			first := post(t, g.url, tt.path, tt.body, h...)
			first.accepted(t)
			if got := first.header.Get("Idempotent-Replayed"); got != "" {
				t.Errorf("first answer: got Idempotent-Replayed %q, want none", got)
			}
			for range 3 {
				again := post(t, g.url, tt.path, tt.body, h...)
				again.accepted(t)
				if !bytes.Equal(again.body, first.body) {
					t.Errorf("retry: got body %s, want the first answer %s", again.body, first.body)
				}
				if got := again.header.Get("Idempotent-Replayed"); got != "true" {
					t.Errorf("retry: got Idempotent-Replayed %q, want true", got)
				}
			}
			if got := dataRecords(t, addrs) - n0; got != 1 {
				t.Errorf("Kafka got %d records for the request and its retries, want 1", got)
			}
		})
	}

	t.Run("keys are per API key", func(t *testing.T) {
		n0 := dataRecords(t, addrs)
		body := orderJSON()
		post(t, g.url, "/v1/orders", body, auth(shopSecret)...).accepted(t)
		post(t, g.url, "/v1/orders", body, auth(ordersSecret)...).accepted(t)
		if got := dataRecords(t, addrs) - n0; got != 2 {
			t.Errorf("two API keys with the same order id: Kafka got %d records, want 2", got)
		}
	})
}

// Concurrent duplicates wait for the first request and answer from its
// result: one record, the same body for everyone.
func TestConcurrentDuplicates(t *testing.T) {
	c := cluster(t)
	addrs := c.ListenAddrs()
	g := startGateway(t, addrs)
	body := orderJSON("priority", `"urgent"`)
	const n = 16
	var wg sync.WaitGroup
	answers := make([]resp, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = post(t, g.url, "/v1/orders", body, auth(shopSecret)...)
		}()
	}
	wg.Wait()
	for i, a := range answers {
		if a.status != http.StatusAccepted || !bytes.Equal(a.body, answers[0].body) {
			t.Errorf("request %d: got %d %s, want 202 %s", i, a.status, a.body, answers[0].body)
		}
	}
	if got := dataRecords(t, addrs); got != 1 {
		t.Errorf("Kafka holds %d records, want 1", got)
	}
	if a := answers[0].accepted(t); a.Topic != "orders-priority" {
		t.Errorf("urgent order: got topic %q, want orders-priority", a.Topic)
	}
}

// A gateway stopped and started again over the same Kafka answers retries
// from the idempotency topic: the same body, no second record.
func TestIdempotencyAcrossRestart(t *testing.T) {
	c := cluster(t)
	addrs := c.ListenAddrs()
	order := orderJSON("priority", `"vip"`)
	batch := []byte("[" + eventJSON("u-1", "") + "," + eventJSON("u-2", "") + "]")
	batchKey := []string{"Idempotency-Key", "batch-42"}

	g1 := startGateway(t, addrs)
	first := post(t, g1.url, "/v1/orders", order, auth(shopSecret)...)
	first.accepted(t)
	firstBatch := post(t, g1.url, "/v1/events:batch", batch, append(auth(shopSecret), batchKey...)...)
	if firstBatch.status != http.StatusAccepted {
		t.Fatalf("batch: got %d %s, want 202", firstBatch.status, firstBatch.body)
	}
	g1.srv.Close()
	if err := g1.Drain(testCtx(t)); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if got := records(t, addrs, DefaultIdempotencyTopic); got != 2 {
		t.Errorf("idempotency topic holds %d records after a graceful stop, want 2", got)
	}
	n0 := dataRecords(t, addrs)

	g2 := startGateway(t, addrs)
	again := post(t, g2.url, "/v1/orders", order, auth(shopSecret)...)
	again.accepted(t)
	if !bytes.Equal(again.body, first.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("retry after restart: got %s (replayed %q), want %s (replayed true)", again.body, again.header.Get("Idempotent-Replayed"), first.body)
	}
	againBatch := post(t, g2.url, "/v1/events:batch", batch, append(auth(shopSecret), batchKey...)...)
	b1, b2 := firstBatch.batch(t), againBatch.batch(t)
	if againBatch.status != http.StatusAccepted || b2.Accepted != 2 {
		t.Fatalf("batch retry after restart: got %d %s", againBatch.status, againBatch.body)
	}
	for i := range b2.Items {
		if !b2.Items[i].Replayed || b2.Items[i].Offset != b1.Items[i].Offset || b2.Items[i].Partition != b1.Items[i].Partition {
			t.Errorf("batch item %d after restart: got %+v, want the first answer's %+v, replayed", i, b2.Items[i], b1.Items[i])
		}
	}
	if got := dataRecords(t, addrs); got != n0 {
		t.Errorf("Kafka got %d records from the retries after restart, want none", got-n0)
	}
	conflict := post(t, g2.url, "/v1/events:batch", []byte("["+eventJSON("u-3", "")+"]"), append(auth(shopSecret), batchKey...)...)
	if conflict.status != http.StatusConflict || conflict.errorBody(t).Code != CodeIdempotencyConflict {
		t.Errorf("same key, other body after restart: got %d %s, want 409 %s", conflict.status, conflict.body, CodeIdempotencyConflict)
	}
}

// When Kafka does not answer within the produce timeout the client gets
// 503 with Retry-After; a concurrent retry waits and then reports the key
// in progress; once Kafka answers, a retry gets the real outcome, and the
// record is in Kafka once.
func TestKafkaTimeoutThenRetry(t *testing.T) {
	c := cluster(t)
	addrs := c.ListenAddrs()
	g := startGateway(t, addrs, WithProduceTimeout(300*time.Millisecond))
	post(t, g.url, "/v1/orders", orderJSON(), auth(shopSecret)...).accepted(t) // warm: producer id, metadata

	release := stallProduce(c)
	defer release()
	order := orderJSON()
	batch := []byte("[" + eventJSON("u-1", "") + "," + eventJSON("u-1", "") + "]")
	batchKey := append(auth(shopSecret), "Idempotency-Key", "stalled-batch")

	start := time.Now()
	r := post(t, g.url, "/v1/orders", order, auth(shopSecret)...)
	if r.status != http.StatusServiceUnavailable || r.errorBody(t).Code != CodeKafkaTimeout {
		t.Fatalf("stalled Kafka: got %d %s, want 503 %s", r.status, r.body, CodeKafkaTimeout)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the 503 took %v, want about the 300ms produce timeout", took)
	}
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if e := r.errorBody(t); !strings.Contains(e.Message, "same Idempotency-Key") {
		t.Errorf("got message %q, want it to tell the client to retry with the same key", e.Message)
	}
	rb := post(t, g.url, "/v1/events:batch", batch, batchKey...)
	if rb.status != http.StatusServiceUnavailable || rb.batch(t).Failed != 2 {
		t.Fatalf("stalled batch: got %d %s, want 503 with 2 failed items", rb.status, rb.body)
	}
	busy := post(t, g.url, "/v1/orders", order, auth(shopSecret)...)
	if busy.status != http.StatusConflict || busy.errorBody(t).Code != CodeIdempotencyInProgress {
		t.Errorf("retry while the first is unanswered: got %d %s, want 409 %s", busy.status, busy.body, CodeIdempotencyInProgress)
	}

	release()
	deadline := time.Now().Add(10 * time.Second)
	var again resp
	for time.Now().Before(deadline) {
		if again = post(t, g.url, "/v1/orders", order, auth(shopSecret)...); again.status == http.StatusAccepted {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	again.accepted(t)
	if again.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("retry after Kafka answered: got Idempotent-Replayed %q, want true (the first attempt was written)", again.header.Get("Idempotent-Replayed"))
	}
	rb2 := post(t, g.url, "/v1/events:batch", batch, batchKey...)
	if b := rb2.batch(t); rb2.status != http.StatusAccepted || b.Accepted != 2 || !b.Items[0].Replayed || !b.Items[1].Replayed {
		t.Errorf("batch retry after Kafka answered: got %d %s, want 202 with both items replayed", rb2.status, rb2.body)
	}
	if got := dataRecords(t, addrs); got != 4 {
		t.Errorf("Kafka holds %d records, want 4 (warm-up, order, 2 events): no duplicates", got)
	}
}

func TestWindow(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	w := newWindow(time.Hour, 3, func() time.Time { return now })
	h1, h2 := hashBody([]byte("a")), hashBody([]byte("b"))
	ack := []savedAck{{ok: true, kind: "order", eventID: "e1", ack: stream.Ack{Topic: "orders", Partition: 1, Offset: 7}}}

	e, _, st := w.begin("k1", h1)
	if st != claimed {
		t.Fatalf("first begin: got %v, want claimed", st)
	}
	if _, wait, st := w.begin("k1", h1); st != inProgress || wait == nil {
		t.Errorf("begin while busy: got %v, want inProgress with a channel", st)
	}
	if _, _, st := w.begin("k1", h2); st != conflict {
		t.Errorf("begin with another body: got %v, want conflict", st)
	}
	if snap := w.finish(e, ack); len(snap) != 1 || !snap[0].ok {
		t.Errorf("finish with an ack: got %+v, want the ack to persist", snap)
	}
	e2, _, st := w.begin("k1", h1)
	if st != claimed || !e2.accepted(0) || e2.acks[0].ack.Offset != 7 {
		t.Fatalf("begin after finish: got %v %+v, want claimed with the stored ack", st, e2)
	}
	if snap := w.finish(e2, nil); snap != nil {
		t.Errorf("finish without new acks: got %+v, want nothing to persist", snap)
	}
	// A key whose request stored nothing is forgotten.
	e3, _, _ := w.begin("k2", h1)
	w.finish(e3, nil)
	if w.len() != 1 {
		t.Errorf("after a request without acks: got %d keys, want 1", w.len())
	}
	// Over max, the oldest idle key goes.
	for _, k := range []string{"k3", "k4", "k5"} {
		e, _, _ := w.begin(k, h1)
		w.finish(e, ack)
	}
	if w.len() != 3 || w.evicted != 1 {
		t.Errorf("over the bound: got %d keys, %d evicted, want 3 and 1", w.len(), w.evicted)
	}
	if _, _, st := w.begin("k1", h2); st != claimed {
		t.Errorf("evicted key with another body: got %v, want claimed (forgotten)", st)
	}
	// After the window a key is forgotten.
	now = now.Add(2 * time.Hour)
	if _, _, st := w.begin("k4", h2); st != claimed {
		t.Errorf("expired key with another body: got %v, want claimed", st)
	}
}
