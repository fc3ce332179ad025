package gateway

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Shutdown stops accepting, answers every request in progress with its
// real outcome, flushes, and returns within the bound.
func TestGracefulShutdown(t *testing.T) {
	c := cluster(t)
	addrs := c.ListenAddrs()
	p := newProducer(t, addrs)
	g, err := New(testCtx(t), WithProducer(p), WithKeys(testKeys(t)), WithShutdownTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- g.Serve(ctx, ln) }()
	post(t, url, "/v1/orders", orderJSON(), auth(shopSecret)...).accepted(t)
	// Its idempotency result is written in the background; let it go out
	// before Kafka stalls, so that only the n orders below are buffered.
	for deadline := time.Now().Add(5 * time.Second); g.ilog.written.Load() < 1 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}

	release := stallProduce(c)
	defer release()
	const n = 8
	var wg sync.WaitGroup
	answers := make([]resp, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = post(t, url, "/v1/orders", orderJSON(), auth(shopSecret)...)
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && func() bool { r, _ := p.Buffered(); return r < n }() {
		time.Sleep(5 * time.Millisecond)
	}
	cancel() // shutdown starts with n requests waiting for Kafka
	time.Sleep(100 * time.Millisecond)
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("the gateway still accepts connections during shutdown")
	}
	release()
	wg.Wait()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return within the shutdown bound")
	}
	for i, a := range answers {
		if a.status != http.StatusAccepted {
			t.Errorf("request %d in progress at shutdown: got %d %s, want 202", i, a.status, a.body)
		}
	}
	if got := dataRecords(t, addrs); got != n+1 {
		t.Errorf("Kafka holds %d records, want %d: every 202 is in Kafka", got, n+1)
	}
	if got := records(t, addrs, DefaultIdempotencyTopic); got != n+1 {
		t.Errorf("idempotency topic holds %d records after shutdown, want %d", got, n+1)
	}
}
