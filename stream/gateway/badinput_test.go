package gateway

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Every bad input of the issue gets a clear 4xx naming the problem, writes
// nothing to Kafka, and the gateway keeps serving.
func TestBadInput(t *testing.T) {
	c := cluster(t)
	addrs := c.ListenAddrs()
	g := startGateway(t, addrs, WithMaxBatchItems(10))

	deep := strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100)
	future := time.Now().Add(72 * time.Hour).UTC().Format(time.RFC3339)
	dupKey := orderJSON()
	sameID := orderJSON()

	tests := []struct {
		name       string
		path       string
		body       []byte
		headers    []string
		wantStatus int
		wantCode   string
		wantField  string // a field the error names; "-" for the record as a whole
		wantInMsg  string
		setup      func(t *testing.T) // runs first; may produce
	}{
		{name: "empty body", path: "/v1/orders", body: nil,
			wantStatus: 400, wantCode: CodeInvalidRecord, wantField: "-", wantInMsg: "empty record"},
		{name: "not JSON", path: "/v1/orders", body: []byte("order please"),
			wantStatus: 400, wantCode: CodeInvalidRecord, wantField: "-", wantInMsg: "malformed JSON"},
		{name: "JSON array instead of object", path: "/v1/orders", body: []byte(`[1,2,3]`),
			wantStatus: 400, wantCode: CodeInvalidRecord, wantField: "-", wantInMsg: "got an array"},
		{name: "fields of the wrong type", path: "/v1/orders", body: orderJSON("order_id", "5", "items", `{"sku":"x"}`),
			wantStatus: 400, wantCode: CodeInvalidRecord, wantField: "order_id", wantInMsg: "must be a string"},
		{name: "truncated JSON", path: "/v1/orders", body: orderJSON()[:60],
			wantStatus: 400, wantCode: CodeInvalidRecord, wantField: "-", wantInMsg: "truncated JSON"},
		{name: "10 MB body", path: "/v1/orders", body: bytes.Repeat([]byte(" "), 10<<20),
			wantStatus: 413, wantCode: CodeBodyTooLarge, wantInMsg: "over the limit"},
		{name: "10 MB batch", path: "/v1/events:batch", body: bytes.Repeat([]byte(" "), 10<<20),
			wantStatus: 413, wantCode: CodeBodyTooLarge, wantInMsg: "over the limit"},
		{name: "record over the record limit", path: "/v1/orders", body: orderJSON("pad", `"`+strings.Repeat("x", 300<<10)+`"`),
			wantStatus: 413, wantCode: CodeBodyTooLarge, wantInMsg: "record too large"},
		{name: "deeply nested JSON", path: "/v1/orders", body: orderJSON("extra", deep),
			wantStatus: 400, wantCode: CodeInvalidRecord, wantField: "-", wantInMsg: "nested more than 32 levels"},
		{name: "duplicate key, the first value invalid", path: "/v1/orders", body: bytes.Replace(orderJSON(), []byte(`"amount":51900`), []byte(`"amount":-5,"amount":51900`), 1),
			wantStatus: 400, wantCode: CodeInvalidRecord, wantField: "amount", wantInMsg: "duplicate key"},
		{name: "duplicate key in an event", path: "/v1/events", body: []byte(strings.Replace(eventJSON("u-1", ""), `"user_id":"u-1"`, `"user_id":"u-1","user_id":"u-2"`, 1)),
			wantStatus: 400, wantCode: CodeInvalidRecord, wantField: "user_id", wantInMsg: "duplicate key"},
		{name: "lone surrogate escape", path: "/v1/events", body: []byte(eventJSON("u-1", `"user_id":"u-\ud800"`)),
			wantStatus: 400, wantCode: CodeInvalidRecord, wantField: "user_id", wantInMsg: "lone surrogate"},
		{name: "Content-Encoding br", path: "/v1/orders", body: orderJSON(), headers: []string{"Content-Encoding", "br"},
			wantStatus: 415, wantCode: CodeUnsupportedEncoding, wantInMsg: `"br"`},
		{name: "plain body declared gzip", path: "/v1/orders", body: orderJSON(), headers: []string{"Content-Encoding", "gzip"},
			wantStatus: 400, wantCode: CodeInvalidEncoding, wantInMsg: "does not decompress"},
		{name: "order status with an events-only key", path: "/v1/events", body: statusJSON("paid"), headers: auth(eventsSecret),
			wantStatus: 403, wantCode: CodeForbidden, wantField: "kind", wantInMsg: "orders:write"},
		{name: "invalid UTF-8", path: "/v1/orders", body: orderJSON("user_id", "\"u-\xff\xfe\""),
			wantStatus: 400, wantCode: CodeInvalidRecord, wantField: "-", wantInMsg: "invalid UTF-8"},
		{name: "number beyond int64", path: "/v1/orders", body: orderJSON("amount", "92233720368547758070"),
			wantStatus: 400, wantCode: CodeInvalidRecord, wantField: "amount", wantInMsg: "overflows int64"},
		{name: "negative amount", path: "/v1/orders", body: orderJSON("amount", "-100"),
			wantStatus: 400, wantCode: CodeInvalidRecord, wantField: "amount", wantInMsg: "must not be negative"},
		{name: "zero amount", path: "/v1/orders", body: orderJSON("amount", "0"),
			wantStatus: 400, wantCode: CodeInvalidRecord, wantField: "amount", wantInMsg: "greater than zero"},
		{name: "zero quantity", path: "/v1/orders", body: orderJSON("items", `[{"sku":"a","qty":0,"unit_price":100}]`, "amount", "100"),
			wantStatus: 400, wantCode: CodeInvalidRecord, wantField: "items[0].qty", wantInMsg: "greater than zero"},
		{name: "unknown currency", path: "/v1/orders", body: orderJSON("currency", `"EURO"`),
			wantStatus: 400, wantCode: CodeInvalidRecord, wantField: "currency", wantInMsg: "not an ISO-4217 currency"},
		{name: "timestamp in the far future", path: "/v1/orders", body: orderJSON("created_at", `"`+future+`"`),
			wantStatus: 400, wantCode: CodeInvalidRecord, wantField: "created_at", wantInMsg: "in the future"},
		{name: "timestamp in the far past", path: "/v1/orders", body: orderJSON("created_at", `"1970-01-01T00:00:00Z"`),
			wantStatus: 400, wantCode: CodeInvalidRecord, wantField: "created_at", wantInMsg: "before 2000"},
		{name: "event timestamp in the far future", path: "/v1/events", body: []byte(eventJSON("u-1", `"ts":"`+future+`"`)),
			wantStatus: 400, wantCode: CodeInvalidRecord, wantField: "ts", wantInMsg: "in the future"},
		{name: "duplicate idempotency key with a different body", path: "/v1/orders", body: orderJSON(),
			headers: []string{"Idempotency-Key", "dup-1"}, wantStatus: 409, wantCode: CodeIdempotencyConflict, wantInMsg: "different request body",
			setup: func(t *testing.T) {
				r := post(t, g.url, "/v1/orders", dupKey, append(auth(shopSecret), "Idempotency-Key", "dup-1")...)
				r.accepted(t)
			}},
		{name: "same order id with a different body", path: "/v1/orders",
			// sameID's order id, another quantity and amount: without a
			// header the order id is the idempotency key.
			body: bytes.Replace(bytes.Replace(sameID, []byte(`"tv-55","qty":1`), []byte(`"tv-55","qty":2`), 1),
				[]byte(`51900`), []byte(`101800`), 1),
			wantStatus: 409, wantCode: CodeIdempotencyConflict, wantInMsg: "different request body",
			setup: func(t *testing.T) {
				post(t, g.url, "/v1/orders", sameID, auth(shopSecret)...).accepted(t)
			}},
		{name: "wrong content type", path: "/v1/orders", body: orderJSON(), headers: []string{"Content-Type", "text/plain"},
			wantStatus: 415, wantCode: CodeUnsupportedMediaType, wantInMsg: "application/json"},
		{name: "form content type (curl -d default)", path: "/v1/orders", body: orderJSON(), headers: []string{"Content-Type", "application/x-www-form-urlencoded"},
			wantStatus: 415, wantCode: CodeUnsupportedMediaType},
		{name: "no content type", path: "/v1/orders", body: orderJSON(), headers: []string{"Content-Type", ""},
			wantStatus: 415, wantCode: CodeUnsupportedMediaType},
		{name: "NDJSON to the single-record route", path: "/v1/events", body: []byte(eventJSON("u-1", "")), headers: []string{"Content-Type", "application/x-ndjson"},
			wantStatus: 415, wantCode: CodeUnsupportedMediaType},
		{name: "latin-1 charset", path: "/v1/orders", body: orderJSON(), headers: []string{"Content-Type", "application/json; charset=latin1"},
			wantStatus: 415, wantCode: CodeUnsupportedMediaType},
		{name: "missing API key", path: "/v1/orders", body: orderJSON(), headers: []string{"Authorization", ""},
			wantStatus: 401, wantCode: CodeUnauthorized, wantInMsg: "missing API key"},
		{name: "invalid API key", path: "/v1/orders", body: orderJSON(), headers: auth("sk_wrong"),
			wantStatus: 401, wantCode: CodeUnauthorized, wantInMsg: "invalid API key"},
		{name: "API key in another scheme", path: "/v1/orders", body: orderJSON(), headers: []string{"Authorization", "Basic c2hvcDpzZWNyZXQ="},
			wantStatus: 401, wantCode: CodeUnauthorized, wantInMsg: "unsupported Authorization scheme"},
		{name: "API key without the scope", path: "/v1/orders", body: orderJSON(), headers: auth(eventsSecret),
			wantStatus: 403, wantCode: CodeForbidden, wantInMsg: "orders:write"},
		{name: "events with an orders-only key", path: "/v1/events:batch", body: []byte("[" + eventJSON("u-1", "") + "]"), headers: auth(ordersSecret),
			wantStatus: 403, wantCode: CodeForbidden, wantInMsg: "events:write"},
		{name: "invalid idempotency key", path: "/v1/orders", body: orderJSON(), headers: []string{"Idempotency-Key", strings.Repeat("k", 300)},
			wantStatus: 400, wantCode: CodeInvalidIdempotencyKey},
		{name: "order sent as an event", path: "/v1/events", body: orderJSON(),
			wantStatus: 400, wantCode: CodeWrongKind, wantField: "kind", wantInMsg: "/v1/orders"},
		{name: "batch that is an object", path: "/v1/events:batch", body: []byte(eventJSON("u-1", "")),
			wantStatus: 400, wantCode: CodeInvalidBatch, wantInMsg: "single object"},
		{name: "truncated batch", path: "/v1/events:batch", body: []byte("[" + eventJSON("u-1", "") + "," + eventJSON("u-2", "")[:20]),
			wantStatus: 400, wantCode: CodeInvalidBatch, wantInMsg: "truncated"},
		{name: "empty batch", path: "/v1/events:batch", body: []byte("[]"),
			wantStatus: 400, wantCode: CodeInvalidBatch, wantInMsg: "no items"},
		{name: "batch over the item limit", path: "/v1/events:batch", body: []byte("[" + strings.Repeat(eventJSON("u-1", "")+",", 10) + eventJSON("u-1", "") + "]"),
			wantStatus: 413, wantCode: CodeTooManyItems, wantInMsg: "more than 10 items"},
	}
	before := dataRecords(t, addrs)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup(t)
			}
			n0 := dataRecords(t, addrs)
			r := post(t, g.url, tt.path, tt.body, append(auth(shopSecret), tt.headers...)...)
			if r.status != tt.wantStatus {
				t.Fatalf("got status %d, want %d: %s", r.status, tt.wantStatus, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("got Content-Type %q, want application/json", ct)
			}
			e := r.errorBody(t)
			if e.Code != tt.wantCode {
				t.Errorf("got code %q, want %q (%s)", e.Code, tt.wantCode, e.Message)
			}
			if tt.wantInMsg != "" && !strings.Contains(e.Message, tt.wantInMsg) {
				t.Errorf("got message %q, want it to contain %q", e.Message, tt.wantInMsg)
			}
			if tt.wantField != "" {
				want := tt.wantField
				if want == "-" {
					want = ""
				}
				found := false
				for _, f := range e.Fields {
					found = found || f.Field == want
				}
				if !found {
					t.Errorf("got fields %+v, want one for %q", e.Fields, want)
				}
			}
			if got := dataRecords(t, addrs); got != n0 {
				t.Errorf("Kafka holds %d records after the refused request, want %d: nothing produced", got, n0)
			}
		})
	}
	// Only the first requests of the two idempotency cases were written.
	if got := dataRecords(t, addrs); got != before+2 {
		t.Errorf("Kafka holds %d records after the bad inputs, want %d", got, before+2)
	}
	// The gateway keeps serving.
	post(t, g.url, "/v1/orders", orderJSON(), auth(shopSecret)...).accepted(t)
	if got := dataRecords(t, addrs); got != before+3 {
		t.Errorf("Kafka holds %d records after a good order, want %d", got, before+3)
	}
}

// A batch with one bad item among good ones: the good ones are written,
// the bad one is reported by index with its field, nothing else is lost.
func TestBatchWithOneBadItem(t *testing.T) {
	c := cluster(t)
	addrs := c.ListenAddrs()
	g := startGateway(t, addrs)
	for _, ct := range []string{"application/json", "application/x-ndjson"} {
		t.Run(ct, func(t *testing.T) {
			items := []string{
				eventJSON("u-1", ""),
				eventJSON("u-2", ""),
				eventJSON("u-3", `"type":"teleport"`),
				`{"kind":"order_status","v":1,"event_id":"st-` + ct + `","order_id":"o-1","user_id":"u-1","status":"paid","ts":"` + time.Now().UTC().Format(time.RFC3339) + `"}`,
				"42",
			}
			var body string
			if ct == "application/json" {
				body = "[\n" + strings.Join(items, ",\n") + "\n]"
			} else {
				body = strings.Join(items, "\n") + "\n\n"
			}
			n0 := dataRecords(t, addrs)
			r := post(t, g.url, "/v1/events:batch", []byte(body), append(auth(shopSecret), "Content-Type", ct)...)
			if r.status != http.StatusAccepted {
				t.Fatalf("got status %d, want 202: %s", r.status, r.body)
			}
			b := r.batch(t)
			if b.Accepted != 3 || b.Rejected != 2 || b.Failed != 0 || len(b.Items) != 5 {
				t.Fatalf("got accepted %d rejected %d failed %d items %d, want 3, 2, 0, 5: %s", b.Accepted, b.Rejected, b.Failed, len(b.Items), r.body)
			}
			wantStatus := []string{"accepted", "accepted", "rejected", "accepted", "rejected"}
			for i, it := range b.Items {
				if it.Index != i || it.Status != wantStatus[i] {
					t.Errorf("item %d: got index %d status %q, want %d %q", i, it.Index, it.Status, i, wantStatus[i])
				}
			}
			if e := b.Items[2].Error; e == nil || e.Code != CodeInvalidRecord || len(e.Fields) == 0 || e.Fields[0].Field != "type" {
				t.Errorf("item 2: got error %+v, want invalid_record naming the field type", e)
			}
			if e := b.Items[4].Error; e == nil || !strings.Contains(e.Message, "must be a JSON object") {
				t.Errorf("item 4: got error %+v, want one saying it must be a JSON object", e)
			}
			if b.Items[3].Topic != "orders" || b.Items[0].Topic != "user-events" {
				t.Errorf("got topics %q and %q, want orders for the status and user-events for the event", b.Items[3].Topic, b.Items[0].Topic)
			}
			if got := dataRecords(t, addrs) - n0; got != 3 {
				t.Errorf("Kafka got %d records, want the 3 good ones", got)
			}
		})
	}
	t.Run("all bad", func(t *testing.T) {
		n0 := dataRecords(t, addrs)
		r := post(t, g.url, "/v1/events:batch", []byte(`[{"kind":"user_event"}, "x"]`), auth(shopSecret)...)
		if r.status != http.StatusBadRequest {
			t.Fatalf("got status %d, want 400: %s", r.status, r.body)
		}
		if b := r.batch(t); b.Rejected != 2 || b.Accepted != 0 {
			t.Errorf("got rejected %d accepted %d, want 2 and 0", b.Rejected, b.Accepted)
		}
		if got := dataRecords(t, addrs); got != n0 {
			t.Errorf("Kafka got %d new records, want none", got-n0)
		}
	})
}
