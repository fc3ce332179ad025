package dispatch_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/control"
	"github.com/surgeio/surge/stream/dispatch"
)

// TestResizeKeepsKeyOrder grows orders from 8 to 32 partitions while a
// stream.Producer writes at a steady rate and a dispatcher handles the
// records. Handling on the old partitions is slower than the key's produce
// rate, so at the resize every key has a backlog in its old partition: a
// moved key's records on its new partition must wait until that backlog is
// done. Nothing may be lost, no key's record may run before an earlier
// one, and the group must take the new partitions on (and consume them
// once their parents pass the barrier) within seconds.
func TestResizeKeepsKeyOrder(t *testing.T) {
	brokers := cluster(t, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const keysN, perKey, from = 100, 40, 8
	c := newChecker()
	var firstNew atomic.Int64
	var onNew atomic.Int64
	h := c.handler(func(ctx context.Context, r dispatch.Record) error {
		if r.Partition < from {
			time.Sleep(150 * time.Millisecond) // slower than a key's 100ms produce period
		} else {
			firstNew.CompareAndSwap(0, time.Now().UnixNano())
			onNew.Add(1)
		}
		return nil
	})
	runDispatcher(t, append(baseOpts(t, brokers, "resize"), dispatch.WithHandler(h))...)

	p, err := stream.NewProducer(stream.WithBrokers(brokers...), stream.WithLinger(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	jctx, jcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer jcancel()
	if err := p.JoinResizes(jctx); err != nil || p.ControlID() == "" {
		t.Fatalf("producer did not join the resize protocol: %v", err)
	}
	keys := make([]string, keysN)
	for k := range keys {
		keys[k] = fmt.Sprintf("u%04d", k)
	}
	var perr error
	var pmu sync.Mutex
	var wg sync.WaitGroup
	produced := make(chan struct{})
	round := make(chan int, perKey)
	go func() { // one round of all keys every ~100ms; ends after perKey rounds
		defer close(produced)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for seq := range perKey {
			for _, k := range keys {
				<-tick.C
				wg.Add(1)
				p.ProduceRaw(ctx, topics.Orders, []byte(k), value(k, seq), func(_ stream.Ack, err error) {
					defer wg.Done()
					if err != nil {
						pmu.Lock()
						perr = err
						pmu.Unlock()
					}
				})
			}
			round <- seq
		}
	}()
	for seq := range round { // resize once 15 rounds are out
		if seq == 14 {
			break
		}
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	z, err := control.NewResizer(ctx, "", stream.ClientConfig{Brokers: brokers}.Opts(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	plan, err := z.Plan(ctx, topics.Orders, 32, false, 2000)
	if err != nil {
		t.Fatal(err)
	}
	if !plan.OrderSafe || plan.MovedShare != 0.75 || len(plan.Producers) != 1 {
		t.Errorf("plan: order safe %v, moved %v, producers %v; want true, 0.75, [%s]", plan.OrderSafe, plan.MovedShare, plan.Producers, p.ControlID())
	}
	if len(plan.Groups) != 1 || !plan.Groups[0].Known || plan.Groups[0].Component != "dispatch" {
		t.Errorf("plan groups %+v: want the known dispatch group alone", plan.Groups)
	}
	started := time.Now()
	var barrierAt time.Time
	if err := z.Apply(ctx, plan, 10*time.Second, func(pr control.Progress) {
		t.Logf("%s after %s: %s", pr.Step, time.Since(started).Round(time.Millisecond), pr.Message)
		if pr.Step == "barrier" {
			barrierAt = time.Now()
			if len(pr.Missing) > 0 {
				t.Errorf("producers that did not switch: %v", pr.Missing)
			}
		}
	}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	// The group takes the new partitions on within seconds.
	var assignedAfter time.Duration
	waitFor(t, 10*time.Second, "the group to own all 32 partitions", func() bool {
		dg, err := adm.DescribeGroups(ctx, "resize")
		if err != nil {
			return false
		}
		n := 0
		for _, m := range dg["resize"].Members {
			if ca, ok := m.Assigned.AsConsumer(); ok {
				for _, tp := range ca.Topics {
					if tp.Topic == topics.Orders {
						n += len(tp.Partitions)
					}
				}
			}
		}
		assignedAfter = time.Since(started)
		return n == 32
	})
	<-produced
	wg.Wait()
	if perr != nil {
		t.Fatalf("produce: %v", perr)
	}
	waitFor(t, 40*time.Second, "every record handled", func() bool { return len(c.missing(keys, perKey, nil)) == 0 })
	c.report(t)
	if onNew.Load() == 0 {
		t.Fatal("no record was handled on a new partition")
	}
	consumedAfter := time.Unix(0, firstNew.Load()).Sub(started)
	t.Logf("new partitions: assigned %s after the resize began, first record handled %s after (barrier at %s); %d of %d records on new partitions",
		assignedAfter.Round(time.Millisecond), consumedAfter.Round(time.Millisecond), barrierAt.Sub(started).Round(time.Millisecond), onNew.Load(), keysN*perKey)
	if assignedAfter > 5*time.Second {
		t.Errorf("new partitions assigned %s after the resize began, want within 5s", assignedAfter)
	}
	if consumedAfter > 10*time.Second {
		t.Errorf("new partitions first consumed %s after the resize began, want within 10s", consumedAfter)
	}
}
