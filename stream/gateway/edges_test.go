package gateway

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

var statusSeq = time.Now().UnixNano()

// statusJSON is a valid order_status record.
func statusJSON(status string) []byte {
	statusSeq++
	return []byte(fmt.Sprintf(`{"kind":"order_status","v":1,"event_id":"st-%d","order_id":"o-1","user_id":"u-1","status":%q,"priority":"vip","ts":%q}`,
		statusSeq, status, time.Now().UTC().Format(time.RFC3339Nano)))
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A gzip body is decoded; the size limit applies to the decoded body, so a
// compression bomb gets 413; other encodings get 415 naming them.
func TestContentEncoding(t *testing.T) {
	c := cluster(t)
	addrs := c.ListenAddrs()
	g := startGateway(t, addrs, WithMaxBodyBytes(64<<10), WithMaxBatchBytes(256<<10))

	r := post(t, g.url, "/v1/orders", gzipped(t, orderJSON()), append(auth(shopSecret), "Content-Encoding", "gzip")...)
	if a := r.accepted(t); a.Topic != "orders" {
		t.Errorf("gzip order: got topic %q, want orders", a.Topic)
	}
	batch := []byte("[" + eventJSON("u-1", "") + "," + eventJSON("u-2", "") + "]")
	r = post(t, g.url, "/v1/events:batch", gzipped(t, batch), append(auth(shopSecret), "Content-Encoding", "GZIP")...)
	if b := r.batch(t); r.status != http.StatusAccepted || b.Accepted != 2 {
		t.Errorf("gzip batch: got %d %s, want 202 with 2 accepted", r.status, r.body)
	}
	r = post(t, g.url, "/v1/orders", orderJSON(), append(auth(shopSecret), "Content-Encoding", "identity")...)
	r.accepted(t)

	n0 := dataRecords(t, addrs)
	// 16 MiB of spaces before the order compress to about 16 KiB.
	bomb := gzipped(t, append(bytes.Repeat([]byte(" "), 16<<20), orderJSON()...))
	if len(bomb) > 64<<10 {
		t.Fatalf("the bomb is %d bytes compressed; want it under the wire limit", len(bomb))
	}
	for _, tt := range []struct {
		name, path string
		body       []byte
		enc        string
		wantStatus int
		wantCode   string
		wantInMsg  string
	}{
		{"compression bomb", "/v1/orders", bomb, "gzip", 413, CodeBodyTooLarge, "decompressed"},
		{"compression bomb in a batch", "/v1/events:batch", bomb, "gzip", 413, CodeBodyTooLarge, "decompressed"},
		{"truncated gzip", "/v1/orders", gzipped(t, orderJSON())[:40], "gzip", 400, CodeInvalidEncoding, "gzip"},
		{"empty gzip", "/v1/orders", nil, "gzip", 400, CodeInvalidEncoding, "gzip"},
		{"brotli", "/v1/orders", orderJSON(), "br", 415, CodeUnsupportedEncoding, `"br"`},
		{"deflate", "/v1/orders", orderJSON(), "deflate", 415, CodeUnsupportedEncoding, `"deflate"`},
		{"two encodings", "/v1/orders", gzipped(t, gzipped(t, orderJSON())), "gzip, gzip", 415, CodeUnsupportedEncoding, `"gzip, gzip"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, g.url, tt.path, tt.body, append(auth(shopSecret), "Content-Encoding", tt.enc)...)
			if r.status != tt.wantStatus {
				t.Fatalf("got status %d, want %d: %s", r.status, tt.wantStatus, r.body)
			}
			if e := r.errorBody(t); e.Code != tt.wantCode || !strings.Contains(e.Message, tt.wantInMsg) {
				t.Errorf("got %s %q, want %s with %q", e.Code, e.Message, tt.wantCode, tt.wantInMsg)
			}
			if tt.wantStatus == 415 && r.header.Get("Accept-Encoding") != "gzip" {
				t.Errorf("got Accept-Encoding %q, want gzip", r.header.Get("Accept-Encoding"))
			}
		})
	}
	if got := dataRecords(t, addrs); got != n0 {
		t.Errorf("Kafka got %d records from refused requests, want none", got-n0)
	}
}

// socketAddr matches an IPv4 or bracketed IPv6 address with a port.
var socketAddr = regexp.MustCompile(`(\d{1,3}\.){3}\d{1,3}:\d+|\[[0-9a-fA-F:]+\]:\d+`)

// A body that trickles in past the read timeout gets 408 with a stable
// code and no socket address in the message.
func TestSlowBody(t *testing.T) {
	c := cluster(t)
	p := newProducer(t, c.ListenAddrs())
	g, err := New(testCtx(t), WithProducer(p), WithKeys(testKeys(t)), WithReadTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- g.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := orderJSON()
	fmt.Fprintf(conn, "POST /v1/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", shopSecret, len(body))
	go func() { // one byte every 200 ms, ended by the server closing the connection
		for _, b := range body {
			if _, err := conn.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("got status %d, want 408: %s", res.StatusCode, b)
	}
	e := resp{res.StatusCode, res.Header, b}.errorBody(t)
	if e.Code != CodeRequestTimeout || !strings.Contains(e.Message, "1s") {
		t.Errorf("got %s %q, want request_timeout naming the timeout", e.Code, e.Message)
	}
	if a := socketAddr.FindString(string(b)); a != "" {
		t.Errorf("the answer names the socket address %s: %s", a, b)
	}
}

// The scope model: order_status records need orders:write (as well as the
// route's events:write); user events need events:write only.
func TestOrderStatusScope(t *testing.T) {
	c := cluster(t)
	addrs := c.ListenAddrs()
	g := startGateway(t, addrs)
	n0 := dataRecords(t, addrs)
	post(t, g.url, "/v1/events", []byte(eventJSON("u-1", "")), auth(eventsSecret)...).accepted(t)
	post(t, g.url, "/v1/events", statusJSON("paid"), auth(shopSecret)...).accepted(t)

	r := post(t, g.url, "/v1/events", statusJSON("cancelled"), auth(eventsSecret)...)
	if e := r.errorBody(t); r.status != http.StatusForbidden || e.Code != CodeForbidden || !strings.Contains(e.Message, "orders:write") {
		t.Errorf("order_status with an events-only key: got %d %s %q, want 403 forbidden naming orders:write", r.status, e.Code, e.Message)
	}
	r = post(t, g.url, "/v1/events", statusJSON("paid"), auth(ordersSecret)...)
	if r.status != http.StatusForbidden {
		t.Errorf("order_status with an orders-only key on /v1/events: got %d, want 403 (the route needs events:write)", r.status)
	}

	// In a batch each order_status item is refused; the user events pass.
	batch := "[" + string(statusJSON("paid")) + "," + eventJSON("u-2", "") + "]"
	r = post(t, g.url, "/v1/events:batch", []byte(batch), auth(eventsSecret)...)
	b := r.batch(t)
	if r.status != http.StatusAccepted || b.Accepted != 1 || b.Rejected != 1 {
		t.Fatalf("mixed batch: got %d %s, want 202 with 1 accepted and 1 rejected", r.status, r.body)
	}
	if e := b.Items[0].Error; e == nil || e.Code != CodeForbidden {
		t.Errorf("batch item 0: got %+v, want forbidden", e)
	}
	r = post(t, g.url, "/v1/events:batch", []byte("["+string(statusJSON("paid"))+","+string(statusJSON("shipped"))+"]"), auth(eventsSecret)...)
	if r.status != http.StatusForbidden || r.batch(t).Rejected != 2 {
		t.Errorf("batch of order statuses only: got %d %s, want 403 with both rejected", r.status, r.body)
	}
	if got := dataRecords(t, addrs) - n0; got != 3 {
		t.Errorf("Kafka got %d records, want 3 (two user events and the status sent with both scopes)", got)
	}
}

// With Kafka unreachable, /readyz says so without naming socket addresses
// (the client's error names the broker's).
func TestReadyzWithoutKafkaNamesNoAddress(t *testing.T) {
	g := startGateway(t, []string{"127.0.0.1:1"}, WithIdempotencyTopic("", 0, 0))
	r := do(t, http.MethodGet, g.url+"/readyz", nil)
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("/readyz without Kafka: got %d %s, want 503", r.status, r.body)
	}
	if e := r.errorBody(t); !strings.Contains(e.Message, "not reachable") {
		t.Errorf("/readyz without Kafka: got %q, want it to say Kafka is not reachable", e.Message)
	}
	if a := socketAddr.FindString(string(r.body)); a != "" {
		t.Errorf("/readyz names the socket address %s: %s", a, r.body)
	}
}
