package control

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/surgeio/surge/internal/testenv"
)

// resizeTo plans and applies a resize of topic to n partitions (no
// producers take part) and returns its barrier.
func resizeTo(t *testing.T, z *Resizer, topic string, n int32) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := z.Plan(ctx, topic, n, false, 0)
	if err != nil {
		t.Fatalf("plan %s -> %d: %v", topic, n, err)
	}
	var barrier []int64
	if err := z.Apply(ctx, p, time.Second, func(pr Progress) {
		if pr.Step == "barrier" {
			barrier = pr.Barrier
		}
	}); err != nil {
		t.Fatalf("apply %s -> %d: %v", topic, n, err)
	}
	return barrier
}

func commitOffset(t *testing.T, adm *kadm.Client, group, topic string, p int32, at int64) {
	t.Helper()
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: topic, Partition: p, At: at, LeaderEpoch: -1})
	resp, err := adm.CommitOffsets(context.Background(), group, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("commit %s[%d]=%d for %s: %v", topic, p, at, group, err)
	}
}

func heldOf(g *Gate, topic string) []int32 { return g.Held()[topic] }

// waitReleased fails t unless g holds no partition of topic within d;
// what says why it should have released them.
func waitReleased(t *testing.T, g *Gate, topic string, d time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for len(heldOf(g, topic)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s: got %v held, want none", what, heldOf(g, topic))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// newTestResizer returns a Resizer on the default control topic, closed
// when the test ends.
func newTestResizer(t *testing.T, ctx context.Context, opts []kgo.Opt) *Resizer {
	t.Helper()
	z, err := NewResizer(ctx, "", opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(z.Close)
	return z
}

// manualProducer returns a client that writes records to the partition
// they name, closed when the test ends.
func manualProducer(t *testing.T, opts []kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestGateChainWaitsForGrandparent: orders grows 8 -> 16 -> 32 while the
// group has not consumed partition 4 past the first barrier. Partition 12
// (new in the first resize) received nothing before the second began, so
// the second barrier of 12 is 0. Partition 28 (parent 12, grandparent 4)
// must still wait for 4: a key on 28 had its older records on 4, and an
// empty 12 says nothing about them.
func TestGateChainWaitsForGrandparent(t *testing.T) {
	brokers := testenv.KafkaPartitions(t, 8, "orders")
	opts := []kgo.Opt{kgo.SeedBrokers(brokers...)}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for i := range 5 {
		recs = append(recs, &kgo.Record{Topic: "orders", Partition: 4, Value: fmt.Appendf(nil, "%d", i)})
	}
	pcl := manualProducer(t, opts)
	if err := pcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	z := newTestResizer(t, ctx, opts)
	b1 := resizeTo(t, z, "orders", 16)
	b2 := resizeTo(t, z, "orders", 32)
	if b1[4] != 5 || b2[12] != 0 {
		t.Fatalf("barriers: got b1[4]=%d b2[12]=%d, want 5 and 0", b1[4], b2[12])
	}

	g, err := OpenGate(ctx, GateConfig{Group: "g", Topics: []string{"orders"}, ClientOpts: opts, Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	member, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	adm := kadm.NewClient(pcl)
	commitOffset(t, adm, "g", "orders", 0, 0) // the group exists, as with a member in it
	g.Assigned(ctx, member, map[string][]int32{"orders": {12, 28}})
	time.Sleep(500 * time.Millisecond) // a few release rounds
	if got := heldOf(g, "orders"); !slices.Equal(got, []int32{12, 28}) {
		t.Fatalf("held with partition 4 unconsumed: got %v, want [12 28]", got)
	}
	commitOffset(t, adm, "g", "orders", 4, 5)
	waitReleased(t, g, "orders", 5*time.Second, "held after partition 4 passed its barrier")
}

// TestResumeIntermediateResize: orders' resize 8 -> 16 is interrupted after
// its partitions were created, then orders grows 16 -> 32. Partitions
// 8..15 are held until the first resize is completed, and the gate's
// warning tells the operator to run "surge topics resize orders
// --partitions 16": that command must complete it, not refuse it as a
// shrink.
func TestResumeIntermediateResize(t *testing.T) {
	brokers := testenv.KafkaPartitions(t, 8, "orders")
	opts := []kgo.Opt{kgo.SeedBrokers(brokers...)}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	z := newTestResizer(t, ctx, opts)
	p1, err := z.Plan(ctx, "orders", 16, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	actx, stop := context.WithCancel(ctx)
	err = z.Apply(actx, p1, time.Second, func(pr Progress) {
		if pr.Step == "created" {
			stop() // interrupted before the barrier
		}
	})
	if err == nil {
		t.Fatal("interrupted apply: got no error")
	}
	p2, err := z.Plan(ctx, "orders", 32, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := "complete it with: surge topics resize orders --partitions 16"; len(p2.Warnings) != 1 || !strings.Contains(p2.Warnings[0], want) {
		t.Errorf("plan 16 -> 32 with 8 -> 16 open: got warnings %q, want one containing %q", p2.Warnings, want)
	}
	resizeTo(t, z, "orders", 32)

	p, err := z.Plan(ctx, "orders", 16, false, 0)
	if err != nil {
		t.Fatalf("completing the interrupted 8 -> 16 on 32 partitions: got %v, want it resumed", err)
	}
	if !p.Resuming || p.Old != 8 || p.New != 16 || p.Resize != p1.Resize {
		t.Fatalf("plan: resuming %v %d -> %d (%s), want resuming 8 -> 16 (%s)", p.Resuming, p.Old, p.New, p.Resize, p1.Resize)
	}
	if err := z.Apply(ctx, p, time.Second, nil); err != nil {
		t.Fatal(err)
	}
	if err := z.conn.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if r := z.conn.State().Resizes[p1.Resize]; r == nil || r.Barrier == nil {
		t.Fatalf("resize %s: got no barrier after completing it", p1.Resize)
	}
	if td, err := z.conn.Admin().ListTopics(ctx, "orders"); err != nil || len(td["orders"].Partitions) != 32 {
		t.Errorf("orders after completing: got %d partitions (%v), want 32", len(td["orders"].Partitions), err)
	}
}

// TestGateHoldsWithStaleState: the gate read a resize (begin and barrier)
// when it opened; on a later assignment it cannot read the control
// topic's end (ListOffsets fails). What it knows already must still hold
// the resize's partitions whose parent is not consumed past the barrier.
func TestGateHoldsWithStaleState(t *testing.T) {
	c := testenv.KafkaCluster(t, 8, []string{"orders"})
	brokers := c.ListenAddrs()
	opts := []kgo.Opt{kgo.SeedBrokers(brokers...)}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pcl := manualProducer(t, opts)
	if err := pcl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Partition: 4, Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	z := newTestResizer(t, ctx, opts)
	resizeTo(t, z, "orders", 16)
	g, err := OpenGate(ctx, GateConfig{Group: "g", Topics: []string{"orders"}, ClientOpts: opts, Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	adm := kadm.NewClient(pcl)
	commitOffset(t, adm, "g", "orders", 0, 0)

	c.ControlKey(int16(kmsg.ListOffsets), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := req.(*kmsg.ListOffsetsRequest)
		resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewListOffsetsResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewListOffsetsResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.UnknownServerError.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	member, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	g.Assigned(ctx, member, map[string][]int32{"orders": {3, 12}})
	if got := heldOf(g, "orders"); !slices.Equal(got, []int32{12}) {
		t.Fatalf("held after a failed catch-up: got %v, want [12] (from the resize already read)", got)
	}
}

// TestGateParentDeletedBelowBarrier: a group that never committed on the
// parent (it joined after the resize) and whose parent's records below the
// barrier were deleted (retention) has nothing left to consume there: the
// new partition must not wait for a record to arrive on the parent.
func TestGateParentDeletedBelowBarrier(t *testing.T) {
	brokers := testenv.KafkaPartitions(t, 8, "orders")
	opts := []kgo.Opt{kgo.SeedBrokers(brokers...)}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pcl := manualProducer(t, opts)
	for range 3 {
		if err := pcl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Partition: 4, Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	z := newTestResizer(t, ctx, opts)
	if b := resizeTo(t, z, "orders", 16); b[4] != 3 {
		t.Fatalf("barrier of 4: got %d, want 3", b[4])
	}
	adm := kadm.NewClient(pcl)
	var del kadm.Offsets
	del.Add(kadm.Offset{Topic: "orders", Partition: 4, At: 3})
	if resp, err := adm.DeleteRecords(ctx, del); err != nil || resp.Error() != nil {
		t.Fatalf("delete records: %v %v", err, resp.Error())
	}
	commitOffset(t, adm, "g", "orders", 0, 0) // the group exists; nothing committed on 4
	g, err := OpenGate(ctx, GateConfig{Group: "g", Topics: []string{"orders"}, ClientOpts: opts, Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	member, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	g.Assigned(ctx, member, map[string][]int32{"orders": {12}})
	waitReleased(t, g, "orders", 3*time.Second, "held with the parent's records below the barrier deleted")
}

// TestApplyNamesSilentProducer: a producer live when the resize began
// stops heartbeating without acking (crashed, or cut off from the control
// topic). The resize does not wait for it past its liveness, but the
// barrier must name it: its records written with the old count may follow
// the barrier.
func TestApplyNamesSilentProducer(t *testing.T) {
	brokers := testenv.KafkaPartitions(t, 8, "orders")
	opts := []kgo.Opt{kgo.SeedBrokers(brokers...)}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	z := newTestResizer(t, ctx, opts)
	// Its last heartbeat leaves it live for one more second.
	if err := z.conn.Write(ctx, Record{Kind: KindHeartbeat, Producer: "quiet", Time: time.Now().Add(-LiveWindow + time.Second)}); err != nil {
		t.Fatal(err)
	}
	p, err := z.Plan(ctx, "orders", 16, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Producers) != 1 {
		t.Fatalf("plan producers: got %v, want [quiet]", p.Producers)
	}
	var missing []string
	if err := z.Apply(ctx, p, 10*time.Second, func(pr Progress) {
		if pr.Step == "barrier" {
			missing = pr.Missing
		}
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(missing, []string{"quiet"}) {
		t.Errorf("barrier missing: got %v, want [quiet]", missing)
	}
}
