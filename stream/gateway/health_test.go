package gateway

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/stream"
)

func TestHealthAndReadiness(t *testing.T) {
	c := cluster(t)
	g := startGateway(t, c.ListenAddrs())
	if r := do(t, http.MethodGet, g.url+"/healthz", nil); r.status != http.StatusOK || !strings.Contains(string(r.body), `"ok"`) {
		t.Errorf("/healthz: got %d %s, want 200 ok", r.status, r.body)
	}
	if r := do(t, http.MethodGet, g.url+"/readyz", nil); r.status != http.StatusOK || !strings.Contains(string(r.body), `"ready"`) {
		t.Errorf("/readyz: got %d %s, want 200 ready", r.status, r.body)
	}
	if r := do(t, http.MethodHead, g.url+"/healthz", nil); r.status != http.StatusOK {
		t.Errorf("HEAD /healthz: got %d, want 200", r.status)
	}

	// A cluster without the priority lane's topic is not ready.
	topics := stream.DefaultTopics()
	c2 := testenv.KafkaCluster(t, 2, []string{topics.Orders, topics.UserEvents, topics.Coupons, topics.DeadLetters})
	g2 := startGateway(t, c2.ListenAddrs())
	r := do(t, http.MethodGet, g2.url+"/readyz", nil)
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("/readyz without orders-priority: got %d %s, want 503", r.status, r.body)
	}
	if e := r.errorBody(t); e.Code != CodeNotReady || !strings.Contains(e.Message, "orders-priority") {
		t.Errorf("/readyz without orders-priority: got %+v, want not_ready naming the topic", e)
	}
	// /healthz stays 200: the process is up.
	if r := do(t, http.MethodGet, g2.url+"/healthz", nil); r.status != http.StatusOK {
		t.Errorf("/healthz: got %d, want 200", r.status)
	}
	// While draining, /readyz answers 503 at once.
	g.draining.Store(true)
	if r := do(t, http.MethodGet, g.url+"/readyz", nil); r.status != http.StatusServiceUnavailable || !strings.Contains(r.errorBody(t).Message, "shutting down") {
		t.Errorf("/readyz while draining: got %d %s, want 503 shutting down", r.status, r.body)
	}
	if r := post(t, g.url, "/v1/orders", orderJSON(), auth(shopSecret)...); r.status != http.StatusServiceUnavailable || r.errorBody(t).Code != CodeShuttingDown {
		t.Errorf("order while draining: got %d %s, want 503 %s", r.status, r.body, CodeShuttingDown)
	}
}

func TestRoutes(t *testing.T) {
	c := cluster(t)
	g := startGateway(t, c.ListenAddrs())
	r := do(t, http.MethodGet, g.url+"/v1/orders", nil, auth(shopSecret)...)
	if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" || r.errorBody(t).Code != CodeMethodNotAllowed {
		t.Errorf("GET /v1/orders: got %d Allow %q %s, want 405 Allow POST", r.status, r.header.Get("Allow"), r.body)
	}
	r = post(t, g.url, "/v2/orders", orderJSON(), auth(shopSecret)...)
	if r.status != http.StatusNotFound || r.errorBody(t).Code != CodeNotFound {
		t.Errorf("POST /v2/orders: got %d %s, want 404 JSON", r.status, r.body)
	}
}

func TestMetrics(t *testing.T) {
	c := cluster(t)
	reg := prometheus.NewRegistry()
	g := startGateway(t, c.ListenAddrs(), WithRegistry(reg))
	post(t, g.url, "/v1/orders", orderJSON(), auth(shopSecret)...).accepted(t)
	post(t, g.url, "/v1/orders", orderJSON("currency", `"XXX"`), auth(shopSecret)...)
	post(t, g.url, "/v1/orders", orderJSON(), auth("nope")...)
	post(t, g.url, "/v1/events:batch", []byte("["+eventJSON("u-1", "")+`,{"kind":"user_event"}]`), auth(shopSecret)...)
	wants := []string{
		`surge_gateway_requests_total{code="202",route="/v1/orders"} 1`,
		`surge_gateway_requests_total{code="400",route="/v1/orders"} 1`,
		`surge_gateway_requests_total{code="401",route="/v1/orders"} 1`,
		`surge_gateway_requests_total{code="202",route="/v1/events:batch"} 1`,
		`surge_gateway_request_seconds_bucket{route="/v1/orders",le="0.5"}`,
		`surge_gateway_rejected_total{reason="invalid_record"} 1`,
		`surge_gateway_rejected_total{reason="unauthorized"} 1`,
		`surge_gateway_rejected_total{reason="invalid_item"} 1`,
		`surge_gateway_records_total{kind="order",result="accepted"} 1`,
		`surge_gateway_records_total{kind="user_event",result="accepted"} 1`,
		`surge_gateway_producer_buffered_records 0`,
		`surge_gateway_producer_buffered_bytes 0`,
		`surge_gateway_inflight_bytes 0`,
		`surge_gateway_idempotency_keys 1`,
	}
	// The idempotency results are written in the background, so the
	// producer may still hold them for a moment after the answers.
	var missing []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r := do(t, http.MethodGet, g.url+"/metrics", nil)
		if r.status != http.StatusOK {
			t.Fatalf("/metrics: got %d", r.status)
		}
		missing = missing[:0]
		for _, want := range wants {
			if !strings.Contains(string(r.body), want) {
				missing = append(missing, want)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range missing {
		t.Errorf("/metrics lacks %q", want)
	}
}
