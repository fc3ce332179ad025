package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/schemas"
)

// The scenario's bodies are valid records: every order and event the load
// generator sends would be accepted.
func TestGatewayBodiesAreValid(t *testing.T) {
	b := &bodyBuilder{prefix: "t", ts: time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), auth: "k", scratch: make([][]byte, 1)}
	for _, n := range []int64{1, 20, 99999} {
		if _, err := schemas.DecodeOrder(b.appendOrder(nil, n)); err != nil {
			t.Errorf("order %d: %v", n, err)
		}
		if _, err := schemas.Decode(b.appendEvent(nil, n)); err != nil {
			t.Errorf("event %d: %v", n, err)
		}
	}
	if o, _ := schemas.DecodeOrder(b.appendOrder(nil, 20)); o.Priority != schemas.PriorityVIP {
		t.Errorf("every 20th order: got priority %q, want vip", o.Priority)
	}
	req := b.batch(0, nil)
	head, body, ok := bytes.Cut(req, []byte("\r\n\r\n"))
	if !ok || !bytes.HasPrefix(head, []byte("POST /v1/events:batch HTTP/1.1\r\n")) || !bytes.Contains(head, []byte("Idempotency-Key: t-b-")) {
		t.Fatalf("batch request head: %q", head)
	}
	if lines := bytes.Count(body, []byte("\n")); lines != gwBatchSize {
		t.Errorf("batch: got %d lines, want %d", lines, gwBatchSize)
	}
}

func TestCountBatch(t *testing.T) {
	for _, tt := range []struct {
		st   int
		body string
		want int64
	}{
		{202, `{"accepted":97,"rejected":3,"failed":0,"items":[]}`, 97},
		{503, `{"accepted":0,"rejected":0,"failed":100,"items":[]}`, 0},
		{202, `{"status":"accepted"}`, 0},
	} {
		if got := countBatch(tt.st, []byte(tt.body)); got != tt.want {
			t.Errorf("countBatch(%d, %s): got %d, want %d", tt.st, tt.body, got, tt.want)
		}
	}
}

// The load generator speaks HTTP/1.1 to a real net/http server, in both
// loops.
func TestLoadLoops(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(bareHandler)}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	b := &bodyBuilder{prefix: "t", ts: "2026-01-01T00:00:00.000Z", auth: "k", scratch: make([][]byte, 4)}
	one := func(st int, _ []byte) int64 {
		if st == http.StatusAccepted {
			return 1
		}
		return 0
	}
	ctx := context.Background()
	cl := closedLoop(ctx, ln.Addr().String(), 4, 200*time.Millisecond, b.order, one)
	if cl.requests == 0 || cl.errs != 0 || cl.accepted != cl.requests || len(cl.latencies) != int(cl.requests) {
		t.Errorf("closed loop: got %d requests, %d accepted, %d errors (%v), %d latencies", cl.requests, cl.accepted, cl.errs, cl.firstErr, len(cl.latencies))
	}
	op := openLoop(ctx, ln.Addr().String(), 4, 500, 200*time.Millisecond, b.order, one)
	if op.requests != 100 || op.errs != 0 || op.p(0.5) <= 0 {
		t.Errorf("open loop at 500/s for 200ms: got %d requests, %d errors, p50 %v, want 100, 0, > 0", op.requests, op.errs, op.p(0.5))
	}
	if s := op.statusText(); !strings.HasPrefix(s, "202: 100") {
		t.Errorf("statusText: got %q", s)
	}
}
