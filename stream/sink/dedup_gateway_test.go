package sink_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/gateway"
)

// TestSinkDedupGatewayRetries: the same order posted under two API keys,
// a batch retried without an Idempotency-Key, and an event twice inside
// one batch: the raw tables, the rollups and campaign-summary count each
// event once.
func TestSinkDedupGatewayRetries(t *testing.T) {
	brokers := testenv.Kafka(t, topics.All()...)
	ch := testenv.ClickHouseConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := stream.NewProducer(stream.WithBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	keys, err := gateway.NewKeys(
		gateway.Key{Name: "shop-a", SHA256: gateway.HashKey("secret-a-0123456789"), Scopes: []gateway.Scope{gateway.ScopeOrdersWrite, gateway.ScopeEventsWrite}},
		gateway.Key{Name: "shop-b", SHA256: gateway.HashKey("secret-b-0123456789"), Scopes: []gateway.Scope{gateway.ScopeOrdersWrite, gateway.ScopeEventsWrite}},
	)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(ctx, gateway.WithProducer(p), gateway.WithKeys(keys), gateway.WithIdempotencyTopic("", 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	post := func(path, secret, body string) {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)).WithContext(ctx)
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		g.ServeHTTP(w, req)
		if w.Code != http.StatusAccepted {
			t.Fatalf("POST %s: got %d %s, want 202", path, w.Code, w.Body.String())
		}
	}
	now := time.Now().UTC().Format(time.RFC3339)
	order := `{"event_id":"ev-order-1","v":1,"order_id":"o-1","user_id":"u-1","items":[{"sku":"s","qty":2,"unit_price":1500}],` +
		`"amount":3000,"currency":"EUR","campaign_id":"bf","priority":"normal","created_at":"` + now + `"}`
	post("/v1/orders", "secret-a-0123456789", order)
	post("/v1/orders", "secret-b-0123456789", order) // another key: the gateway's idempotency does not see it
	event := func(n int) string {
		return fmt.Sprintf(`{"event_id":"ev-view-%d","v":1,"user_id":"u-%d","session_id":"s","type":"page_view","campaign_id":"bf","ts":%q}`, n, n%3, now)
	}
	batch := "[" + event(1) + "," + event(2) + "," + event(3) + "," + event(2) + "]" // ev-view-2 twice inside the batch
	post("/v1/events:batch", "secret-a-0123456789", batch)
	post("/v1/events:batch", "secret-a-0123456789", batch) // retried without an Idempotency-Key

	stop := runSink(t, ch, brokers)
	w := newWant()
	w.rows[analytics.TableOrders], w.rows[analytics.TableUserEvents] = 1, 3
	w.dups, w.total = 1+5, 2+8
	waitFor(t, ch, w, time.Minute)
	stop()
	checkExact(t, ch, w)
	reconcile(t, brokers, ch)

	res, err := ch.Report(ctx, "campaign-summary", analytics.ReportParams{})
	if err != nil {
		t.Fatal(err)
	}
	col := func(name string) int { return indexOf(res.Columns, name) }
	if len(res.Rows) != 1 {
		t.Fatalf("campaign-summary: got %d rows, want 1: %v", len(res.Rows), res.Rows)
	}
	row := res.Rows[0]
	if o, gmv := toInt(t, row[col("orders")]), toInt(t, row[col("gmv")]); o != 1 || gmv != 3000 {
		t.Errorf("campaign-summary: got %d orders and GMV %d, want 1 and 3000", o, gmv)
	}
	var views uint64
	if err := ch.DB().QueryRow(ctx, "SELECT sum(events) FROM events_per_minute WHERE campaign_id = 'bf'").Scan(&views); err != nil {
		t.Fatal(err)
	}
	if views != 3 {
		t.Errorf("events_per_minute: got %d events, want 3", views)
	}
}
