package dispatch_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/stream/dispatch"
)

// TestEventIDAnySpacing: records written by other JSON encoders (Python's
// json.dumps puts a space after every colon and comma, others reorder keys)
// reach the handler with their event id, which is the idempotency key; the
// key is never the source coordinates for a record that has an event id.
func TestEventIDAnySpacing(t *testing.T) {
	brokers := cluster(t, 1)
	values := map[string]string{
		"ev-py": `{"kind": "order", "v": 1, "event_id": "ev-py", "order_id": "o-1", "user_id": "u1", ` +
			`"items": [{"sku": "tv-55", "qty": 1, "unit_price": 49900}], "amount": 49900, "currency": "EUR", ` +
			`"created_at": "2024-11-29T08:00:00.000Z"}`,
		"ev-reordered": `{"user_id":"u1","order_id":"o-2","event_id":"ev-reordered","kind":"order","v":1,` +
			`"items":[{"sku":"tv-55","qty":1,"unit_price":49900}],"amount":49900,"currency":"EUR","created_at":"2024-11-29T08:00:00.000Z"}`,
		"ev-pretty": "{\n  \"kind\": \"order\",\n  \"v\": 1,\n  \"event_id\": \"ev-pretty\",\n  \"order_id\": \"o-3\",\n  \"user_id\": \"u1\",\n" +
			"  \"items\": [{\"sku\": \"tv-55\", \"qty\": 1, \"unit_price\": 49900}],\n  \"amount\": 49900,\n  \"currency\": \"EUR\",\n" +
			"  \"created_at\": \"2024-11-29T08:00:00.000Z\"\n}",
	}
	var recs []*kgo.Record
	for _, v := range values {
		recs = append(recs, &kgo.Record{Topic: topics.Orders, Key: []byte("u1"), Value: []byte(v)})
	}
	testenv.Produce(t, brokers, recs...)

	var mu sync.Mutex
	got := map[string]string{} // event id -> idempotency key
	calls := 0
	h := dispatch.Handler(func(_ context.Context, r dispatch.Record) error {
		mu.Lock()
		defer mu.Unlock()
		got[r.EventID] = r.IdempotencyKey()
		calls++
		return nil
	})
	_, stop := runDispatcher(t, append(baseOpts(t, brokers, "spacing"), dispatch.WithHandler(h))...)
	waitFor(t, 30*time.Second, "every record handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return calls >= len(values)
	})
	stop()
	for id := range values {
		if key, ok := got[id]; !ok || key != id {
			t.Errorf("record with event id %s: got idempotency key %q (handled: %v), want %q", id, key, ok, id)
		}
	}
	if len(got) != len(values) {
		t.Errorf("got event ids %v, want %d", fmt.Sprint(got), len(values))
	}
}
