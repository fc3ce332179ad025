package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/stream"
)

// Test API keys: their secrets, as a client sends them.
const (
	shopSecret   = "sk_test_shop"
	eventsSecret = "sk_test_events_only"
	ordersSecret = "sk_test_orders_only"
	slowSecret   = "sk_test_slow"
)

func testKeys(t testing.TB) *Keys {
	t.Helper()
	k, err := NewKeys(
		Key{Name: "shop", SHA256: HashKey(shopSecret), Scopes: []Scope{ScopeOrdersWrite, ScopeEventsWrite}},
		Key{Name: "events-only", SHA256: HashKey(eventsSecret), Scopes: []Scope{ScopeEventsWrite}},
		Key{Name: "orders-only", SHA256: HashKey(ordersSecret), Scopes: []Scope{ScopeOrdersWrite}},
		Key{Name: "slow", SHA256: HashKey(slowSecret), Scopes: []Scope{ScopeOrdersWrite, ScopeEventsWrite}, Rate: 1, Burst: 2},
	)
	if err != nil {
		t.Fatalf("NewKeys: %v", err)
	}
	return k
}

// cluster starts kfake with surge's topics.
func cluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	return testenv.KafkaCluster(t, 4, stream.DefaultTopics().All(), opts...)
}

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newProducer is a producer with a short linger, closed when the test ends.
func newProducer(t testing.TB, addrs []string) *stream.Producer {
	t.Helper()
	p, err := stream.NewProducer(stream.WithBrokers(addrs...), stream.WithLinger(time.Millisecond))
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// testGateway is a gateway behind a real HTTP server.
type testGateway struct {
	*Gateway
	srv *httptest.Server
	url string
}

// startGateway serves a gateway with the test keys (unless opts say
// otherwise) over addrs.
func startGateway(t testing.TB, addrs []string, opts ...Opt) *testGateway {
	t.Helper()
	p := newProducer(t, addrs)
	all := append([]Opt{WithProducer(p), WithKeys(testKeys(t))}, opts...)
	g, err := New(testCtx(t), all...)
	if err != nil {
		t.Fatalf("New gateway: %v", err)
	}
	srv := httptest.NewServer(g)
	stopped := atomic.Bool{}
	stop := func() {
		if stopped.Swap(true) {
			return
		}
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := g.Drain(ctx); err != nil {
			t.Errorf("Drain: %v", err)
		}
	}
	t.Cleanup(stop)
	return &testGateway{Gateway: g, srv: srv, url: srv.URL}
}

// resp is an HTTP answer.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) errorBody(t testing.TB) APIError {
	t.Helper()
	var eb ErrorBody
	if err := json.Unmarshal(r.body, &eb); err != nil {
		t.Fatalf("answer %d is not an error body: %v\n%s", r.status, err, r.body)
	}
	return eb.Error
}

func (r resp) accepted(t testing.TB) Accepted {
	t.Helper()
	var a Accepted
	if r.status != http.StatusAccepted {
		t.Fatalf("got status %d, want 202: %s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &a); err != nil {
		t.Fatalf("202 body: %v\n%s", err, r.body)
	}
	return a
}

func (r resp) batch(t testing.TB) BatchResult {
	t.Helper()
	var b BatchResult
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatalf("batch answer %d: %v\n%s", r.status, err, r.body)
	}
	return b
}

// post sends a request; headers are name, value pairs. A "Content-Type"
// of "" sends none; without one, application/json is sent.
func post(t testing.TB, url, path string, body []byte, headers ...string) resp {
	t.Helper()
	return do(t, http.MethodPost, url+path, body, headers...)
}

func do(t testing.TB, method, url string, body []byte, headers ...string) resp {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return resp{res.StatusCode, res.Header, b}
}

func auth(secret string) []string { return []string{"Authorization", "Bearer " + secret} }

// records returns how many records the topics hold (sum of end offsets).
func records(t testing.TB, addrs []string, topics ...string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(testCtx(t), topics...)
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			n += o.Offset
		}
	})
	return n
}

// dataRecords is records over every data topic.
func dataRecords(t testing.TB, addrs []string) int64 {
	t.Helper()
	return records(t, addrs, stream.DefaultTopics().Data()...)
}

// consume reads every record of topics from the start until n arrived.
func consume(t testing.TB, addrs []string, n int, topics ...string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := testCtx(t)
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d records, want %d", len(out), n)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// stallProduce holds every produce request the cluster receives until the
// returned release is called (idempotently).
func stallProduce(c *kfake.Cluster) (release func()) {
	ch := make(chan struct{})
	var once atomic.Bool
	c.ControlKey(kmsg.Produce.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		select {
		case <-ch:
		default:
			c.SleepControl(func() { <-ch })
		}
		return nil, nil, false
	})
	return func() {
		if !once.Swap(true) {
			close(ch)
		}
	}
}

var orderSeq atomic.Int64

// orderJSON is a valid order; fields overrides or adds top-level fields
// (raw JSON values).
func orderJSON(fields ...string) []byte {
	n := orderSeq.Add(1)
	m := map[string]string{
		"kind":       `"order"`,
		"v":          `1`,
		"event_id":   fmt.Sprintf(`"ev-order-%d"`, n),
		"order_id":   fmt.Sprintf(`"o-%d"`, n),
		"user_id":    `"u-42"`,
		"items":      `[{"sku":"tv-55","qty":1,"unit_price":49900},{"sku":"hdmi","qty":2,"unit_price":1000}]`,
		"amount":     `51900`,
		"currency":   `"EUR"`,
		"priority":   `"normal"`,
		"created_at": `"` + time.Now().UTC().Format(time.RFC3339Nano) + `"`,
	}
	order := []string{"kind", "v", "event_id", "order_id", "user_id", "items", "amount", "currency", "priority", "created_at"}
	for i := 0; i+1 < len(fields); i += 2 {
		if _, ok := m[fields[i]]; !ok {
			order = append(order, fields[i])
		}
		m[fields[i]] = fields[i+1]
	}
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for _, k := range order {
		if m[k] == "" {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		fmt.Fprintf(&b, "%q:%s", k, m[k])
	}
	b.WriteByte('}')
	return []byte(b.String())
}

var eventSeq atomic.Int64

// eventJSON is a valid add_to_cart user event for user; extra, one raw
// "key":value pair, replaces that field or is added.
func eventJSON(user, extra string) string {
	n := eventSeq.Add(1)
	fields := []string{`"kind":"user_event"`, `"v":1`, fmt.Sprintf(`"event_id":"ev-%d"`, n), fmt.Sprintf(`"user_id":%q`, user),
		`"session_id":"s-1"`, `"type":"add_to_cart"`, `"sku":"tv-55"`, fmt.Sprintf(`"ts":%q`, time.Now().UTC().Format(time.RFC3339Nano))}
	if extra != "" {
		// extra is one "key":value pair; it replaces the field of that key.
		key := extra[:strings.Index(extra, ":")+1]
		replaced := false
		for i, f := range fields {
			if strings.HasPrefix(f, key) {
				fields[i], replaced = extra, true
			}
		}
		if !replaced {
			fields = append(fields, extra)
		}
	}
	return "{" + strings.Join(fields, ",") + "}"
}
