package lag_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/surgeio/surge/internal/testenv"
)

// cluster is an in-process broker with an admin client for the test.
type cluster struct {
	brokers []string
	cl      *kgo.Client
	adm     *kadm.Client
}

func newCluster(t *testing.T, partitions int32, topics ...string) *cluster {
	t.Helper()
	brokers := testenv.KafkaPartitions(t, partitions, topics...)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &cluster{brokers: brokers, cl: cl, adm: kadm.NewClient(cl)}
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// produce writes n records to topic's partition p with timestamps first,
// first+step, ...
func (c *cluster) produce(t *testing.T, topic string, p int32, n int, first time.Time, step time.Duration) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: p, Value: []byte("v"), Timestamp: first.Add(time.Duration(i) * step)}
	}
	if err := cl.ProduceSync(ctxT(t), recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s[%d]: %v", topic, p, err)
	}
}

// commit commits offsets for a group with no members.
func (c *cluster) commit(t *testing.T, group, topic string, offsets map[int32]int64) {
	t.Helper()
	os := make(kadm.Offsets)
	for p, o := range offsets {
		os.AddOffset(topic, p, o, -1)
	}
	if err := c.adm.CommitAllOffsets(ctxT(t), group, os); err != nil {
		t.Fatalf("commit %s: %v", group, err)
	}
}

// member joins group as a consumer of topic that commits only when told.
type member struct {
	cl *kgo.Client
}

func (c *cluster) join(t *testing.T, group, topic string) *member {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.ClientID("member-"+group))
	if err != nil {
		t.Fatal(err)
	}
	m := &member{cl: cl}
	t.Cleanup(m.leave)
	// Poll until the group has the member with an assignment.
	ctx := ctxT(t)
	for {
		pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		cl.PollFetches(pctx)
		cancel()
		ds, err := c.adm.DescribeGroups(ctx, group)
		if err == nil && ds.AssignedPartitions().Topics() != nil && ds[group].State == "Stable" {
			return m
		}
		if ctx.Err() != nil {
			t.Fatalf("group %s never became stable: %v", group, err)
		}
	}
}

func (m *member) commit(t *testing.T, topic string, p int32, offset int64) {
	t.Helper()
	var cerr error
	m.cl.CommitOffsetsSync(ctxT(t), map[string]map[int32]kgo.EpochOffset{topic: {p: {Epoch: -1, Offset: offset}}},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			cerr = err
			if err == nil {
				for _, rt := range resp.Topics {
					for _, rp := range rt.Partitions {
						if rp.ErrorCode != 0 {
							cerr = kerr.ErrorForCode(rp.ErrorCode)
						}
					}
				}
			}
		})
	if cerr != nil {
		t.Fatalf("member commit %s[%d]@%d: %v", topic, p, offset, cerr)
	}
}

var leaveMu sync.Mutex

func (m *member) leave() {
	leaveMu.Lock()
	defer leaveMu.Unlock()
	if m.cl != nil {
		m.cl.Close() // leaves the group
		m.cl = nil
	}
}

// clock is a test clock moved by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
