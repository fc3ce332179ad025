package dispatch_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/stream/dispatch"
)

// TestRebalanceThreeInstances: records keep arriving while three instances
// of one group join and leave (A, then B and C join, A leaves, A' joins, B
// leaves). Nothing is lost, no key's calls overlap or skip ahead, and the
// handovers redeliver nothing.
func TestRebalanceThreeInstances(t *testing.T) {
	brokers := cluster(t, 8)
	const keysN, perKey = 100, 40
	c := newChecker()
	h := c.handler(func(ctx context.Context, r dispatch.Record) error {
		time.Sleep(time.Duration(500+rand.IntN(1500)) * time.Microsecond)
		if flaky(r.EventID, r.Attempt, 0.05) {
			return errors.New("flaky")
		}
		return nil
	})
	opts := append(baseOpts(t, brokers, "rebalance"), dispatch.WithHandler(h), dispatch.WithRevokeTimeout(5*time.Second))

	// Produce in the background, key by key in sequence, over ~4 seconds.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	keys := make([]string, keysN)
	for k := range keys {
		keys[k] = "u" + string(rune('a'+k%26)) + string(rune('a'+k/26))
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for seq := range perKey {
			for _, k := range keys {
				cl.Produce(context.Background(), &kgo.Record{Topic: topics.Orders, Key: []byte(k), Value: value(k, seq)}, nil)
			}
			time.Sleep(100 * time.Millisecond)
		}
		_ = cl.Flush(context.Background())
	}()

	_, stopA := runDispatcher(t, opts...)
	time.Sleep(700 * time.Millisecond)
	_, stopB := runDispatcher(t, opts...)
	time.Sleep(500 * time.Millisecond)
	runDispatcher(t, opts...) // C
	time.Sleep(700 * time.Millisecond)
	stopA()
	time.Sleep(500 * time.Millisecond)
	runDispatcher(t, opts...) // A'
	time.Sleep(700 * time.Millisecond)
	stopB()
	wg.Wait()

	waitFor(t, 60*time.Second, "every record handled", func() bool { return len(c.missing(keys, perKey, nil)) == 0 })
	c.report(t)
	total := keysN * perKey
	dups := c.successes() - total
	t.Logf("records %d, successful calls %d, duplicates %d", total, c.successes(), dups)
	// Graceful handovers commit what is done, with the offsets done above
	// the commit point in the commit metadata, before the partition moves;
	// duplicates would come only from handlers cancelled at the revoke
	// timeout, and no handler here comes near it.
	if dups != 0 {
		t.Errorf("got %d duplicates over graceful rebalances, want 0", dups)
	}
}
