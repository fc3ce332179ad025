package stream

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/surgeio/surge/stream/control"
)

// TestProducerSwitchesOnResize: a Producer joins the control topic, acks a
// resize once its client partitions with the new count, and writes moved
// keys to their new partitions from then on.
func TestProducerSwitchesOnResize(t *testing.T) {
	addrs := newCluster(t)
	p := newTestProducer(t, addrs)
	if err := p.JoinResizes(testCtx(t)); err != nil {
		t.Fatalf("JoinResizes: %v", err)
	}
	if p.ControlID() == "" {
		t.Fatal("producer did not join the resize protocol")
	}
	ctx := testCtx(t)
	// A key that moves from 8 to 16 partitions.
	var key string
	for i := 0; key == ""; i++ {
		k := fmt.Sprintf("user-%d", i)
		if control.KeyPartition([]byte(k), 16) >= 8 {
			key = k
		}
	}
	ack, err := p.Produce(ctx, order(key, 1))
	if err != nil {
		t.Fatal(err)
	}
	if want := control.KeyPartition([]byte(key), 8); ack.Partition != want {
		t.Fatalf("before the resize: got partition %d, want %d", ack.Partition, want)
	}
	z, err := control.NewResizer(ctx, "", ClientConfig{Brokers: addrs}.Opts(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	plan, err := z.Plan(ctx, "orders", 16, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var missing []string
	if err := z.Apply(ctx, plan, 5*time.Second, func(pr control.Progress) {
		if pr.Step == "barrier" {
			missing = pr.Missing
		}
	}); err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 || time.Since(start) > 3*time.Second {
		t.Errorf("apply took %s with producers missing %v; want the producer's ack well within the timeout", time.Since(start), missing)
	}
	ack, err = p.Produce(ctx, order(key, 2))
	if err != nil {
		t.Fatal(err)
	}
	if want := control.KeyPartition([]byte(key), 16); ack.Partition != want {
		t.Errorf("after the switch: got partition %d, want %d", ack.Partition, want)
	}
	if a, b := p.inflight[0].Load(), p.inflight[1].Load(); a != 0 || b != 0 {
		t.Errorf("in-flight counters after acks: got %d, %d, want 0, 0", a, b)
	}
}

// TestNewProducerNoNetwork: NewProducer does no network I/O (here the
// brokers do not even exist) and takes no part in resizes; JoinResizes is
// the explicit step, bounded by its ctx, and a second call does nothing.
func TestNewProducerNoNetwork(t *testing.T) {
	start := time.Now()
	p := newTestProducer(t, []string{"127.0.0.1:1"})
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("NewProducer took %s with no broker, want no network wait", took)
	}
	if id := p.ControlID(); id != "" {
		t.Errorf("got control id %q after NewProducer, want none before JoinResizes", id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := p.JoinResizes(ctx); err == nil {
		t.Error("JoinResizes with no broker: got nil, want an error")
	}

	q := newTestProducer(t, newCluster(t))
	if err := q.JoinResizes(testCtx(t)); err != nil {
		t.Fatalf("JoinResizes: %v", err)
	}
	id := q.ControlID()
	if err := q.JoinResizes(testCtx(t)); err != nil || id == "" || q.ControlID() != id {
		t.Errorf("second JoinResizes: got %v, id %q then %q, want nil and the same id", err, id, q.ControlID())
	}
}
