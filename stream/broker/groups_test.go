package broker

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// syncBuffer is a log destination safe for concurrent writes and reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startGroupBroker starts a broker that allows session timeouts down to
// 1 s and logs to the returned buffer, with topic "t" of 4 partitions.
func startGroupBroker(t *testing.T) (*Broker, *syncBuffer) {
	t.Helper()
	var log syncBuffer
	b := startT(t,
		WithLogger(slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		WithBrokerConfigs(map[string]string{"group.min.session.timeout.ms": "1000"}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(newClient(t, b)).CreateTopic(ctx, 4, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	return b, &log
}

// groupConsumer is a consumer of topic t in group g (range balancer, so
// that a raw member's protocol matches) that polls until the test ends.
func groupConsumer(t *testing.T, b *Broker, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl := newClient(t, b, append([]kgo.Opt{
		kgo.ConsumerGroup("g"),
		kgo.ConsumeTopics("t"),
		kgo.Balancers(kgo.RangeBalancer()),
	}, opts...)...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			cl.PollFetches(ctx)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return cl
}

func waitGroup(t *testing.T, b *Broker, what string, d time.Duration, ok func(*kfake.GroupInfo) bool) *kfake.GroupInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	gi, err := b.cluster.WaitGroupInfo(ctx, "g", func(gi *kfake.GroupInfo) bool { return gi != nil && ok(gi) })
	if err != nil {
		t.Fatalf("group g not %s within %v: got %+v", what, d, gi)
	}
	return gi
}

func stableWith(n int) func(*kfake.GroupInfo) bool {
	return func(gi *kfake.GroupInfo) bool {
		return gi.State == "Stable" && len(gi.Members) == n && gi.NumAssigned() == 4
	}
}

// TestGroupMemberKilledWhileJoining leaves a member's JoinGroup waiting
// for the rebalance and closes its connection, as a kill -9 at that moment
// does. kfake may never time such a member out (its answer went to a
// closed connection, so its session timer was never started); the broker
// must remove it, and the group settle on the live member.
func TestGroupMemberKilledWhileJoining(t *testing.T) {
	for _, static := range []bool{false, true} {
		name := "dynamic"
		if static {
			name = "static"
		}
		t.Run(name, func(t *testing.T) {
			b, log := startGroupBroker(t)
			live := groupConsumer(t, b, kgo.SessionTimeout(3*time.Second), kgo.HeartbeatInterval(300*time.Millisecond))
			waitGroup(t, b, "stable with the live member", 15*time.Second, stableWith(1))

			raw := dialRaw(t, b)
			var instance *string
			memberID := ""
			if static {
				instance = kmsg.StringPtr("static-1")
			} else {
				resp := kmsg.NewPtrJoinGroupResponse()
				raw.roundTrip(joinRequest("g", "", nil, "t", 3*time.Second, 20*time.Second), resp)
				if err := kerr.ErrorForCode(resp.ErrorCode); err != kerr.MemberIDRequired {
					t.Fatalf("first join: got error %v, want %v", err, kerr.MemberIDRequired)
				}
				memberID = resp.MemberID
			}
			raw.send(joinRequest("g", memberID, instance, "t", 3*time.Second, 20*time.Second))
			raw.conn.Close()

			want := "removed a group member whose connection closed"
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(log.String(), want) {
				if time.Now().After(deadline) {
					t.Fatalf("no %q in the broker log within 10s:\n%s", want, log)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if memberID != "" && !strings.Contains(log.String(), "member_id="+memberID) {
				t.Errorf("got log\n%s\nwant the removed member %s named", log, memberID)
			}
			gi := waitGroup(t, b, "stable with only the live member", 15*time.Second, stableWith(1))
			liveID, _ := live.GroupMetadata()
			if gi.Members[0].MemberID != liveID {
				t.Errorf("got member %s, want the live one %s", gi.Members[0].MemberID, liveID)
			}
		})
	}
}

// TestGroupKeepsWaitingMembersAlive holds a rebalance open longer than a
// member's session timeout (another member takes 4 s to give up its
// partitions) while that member's JoinGroup waits on an open connection.
// kfake would expire the waiting member and never answer its JoinGroup;
// the broker heartbeats for it, so it keeps its member id and the group
// settles as soon as the slow member rejoins.
func TestGroupKeepsWaitingMembersAlive(t *testing.T) {
	b, log := startGroupBroker(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("broker log:\n%s", log)
		}
	})
	quick := groupConsumer(t, b, kgo.SessionTimeout(2*time.Second), kgo.HeartbeatInterval(200*time.Millisecond),
		kgo.RebalanceTimeout(15*time.Second))
	var slow atomic.Bool
	groupConsumer(t, b, kgo.SessionTimeout(10*time.Second), kgo.RebalanceTimeout(15*time.Second),
		kgo.OnPartitionsRevoked(func(context.Context, *kgo.Client, map[string][]int32) {
			if slow.Load() {
				time.Sleep(4 * time.Second)
			}
		}))
	waitGroup(t, b, "stable with two members", 15*time.Second, stableWith(2))
	quickID, _ := quick.GroupMetadata()
	t.Logf("quick member %s", quickID)

	slow.Store(true)
	start := time.Now()
	groupConsumer(t, b, kgo.SessionTimeout(10*time.Second), kgo.RebalanceTimeout(15*time.Second))
	waitGroup(t, b, "stable with three members", 12*time.Second, stableWith(3))
	if id, _ := quick.GroupMetadata(); id != quickID {
		t.Errorf("the member waiting in the rebalance got member id %s, want it to keep %s", id, quickID)
	}
	t.Logf("rebalance with a 4 s revoke settled in %v", time.Since(start).Round(100*time.Millisecond))
}
