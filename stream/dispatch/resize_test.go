package dispatch_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/dispatch"
)

// TestSourceTopicGrows: the orders topic goes from 2 to 4 partitions
// while the dispatcher runs, and every first attempt on the new partitions
// fails. The retry topic grows to match when the new partitions are
// assigned, the failing records are parked in the retry partitions of
// their own number, and every record is handled in key order.
func TestSourceTopicGrows(t *testing.T) {
	brokers := cluster(t, 2)
	const keysN, perKey = 40, 6
	c := newChecker()
	h := c.handler(func(ctx context.Context, r dispatch.Record) error {
		if r.Partition >= 2 && r.Attempt == 1 {
			return errors.New("first attempt on a new partition fails")
		}
		return nil
	})
	opts := append(baseOpts(t, brokers, "grow"), dispatch.WithHandler(h),
		// Notice the new partitions within a second (default: 5 minutes).
		dispatch.WithClient(stream.ClientConfig{Brokers: brokers, ExtraOpts: []kgo.Opt{kgo.MetadataMaxAge(time.Second)}}))
	d, _ := runDispatcher(t, opts...)
	first := produce(t, brokers, topics.Orders, keysN, perKey, nil)
	waitFor(t, 30*time.Second, "records on 2 partitions handled", func() bool { return len(c.missing(first, perKey, nil)) == 0 })

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.UpdatePartitions(context.Background(), 4, topics.Orders); err != nil {
		t.Fatal(err)
	}
	// The group takes the new partitions on; their retry partitions are
	// created on assignment.
	waitFor(t, 20*time.Second, "retry topic grown to 4 partitions", func() bool {
		tds, err := adm.ListTopics(context.Background(), dispatch.RetryTopic("grow", topics.Orders))
		return err == nil && len(tds[dispatch.RetryTopic("grow", topics.Orders)].Partitions) == 4
	})
	// Second round: keys "v0000"..., spread over all four partitions.
	second := produceNamed(t, brokers, topics.Orders, "v", keysN, perKey, nil)
	waitFor(t, 30*time.Second, "records on 4 partitions handled", func() bool { return len(c.missing(second, perKey, nil)) == 0 })
	c.report(t)
	st := d.Stats()
	if st.Retried == 0 || st.DeadLettered != 0 {
		t.Errorf("stats %+v: want retries (the new partitions' first attempts) and no dead letters", st)
	}
	if got := len(deadLetters(t, brokers)); got != 0 {
		t.Errorf("got %d dead letters, want 0", got)
	}
}
