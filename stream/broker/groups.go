package broker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Timing of the group watch (see the package doc, "Consumer groups").
const (
	// keepAliveEvery is how often members waiting to join or sync on
	// an open connection are heartbeated for: well inside the session
	// timeouts clients use (Kafka's smallest allowed is 6 s by default).
	keepAliveEvery = 500 * time.Millisecond
	// keepAliveAfter is how long a JoinGroup or SyncGroup waits before
	// its member is heartbeated for: most are answered sooner.
	keepAliveAfter = 250 * time.Millisecond
	// watchTimeout bounds the requests of one round.
	watchTimeout = 10 * time.Second
)

// groupWatch makes kfake's classic consumer groups treat members the way
// Kafka does around a rebalance, through the broker's own in-process
// client:
//
//   - a member whose connection closes while its JoinGroup or SyncGroup
//     waits for the rebalance is removed at once (LeaveGroup): kfake may
//     never time it out, and the group would wait for it;
//   - a member whose JoinGroup or SyncGroup waits on an open connection is
//     heartbeated for: kfake would otherwise expire it at its session
//     timeout while it waits, leaving its request unanswered until the
//     client gives up.
type groupWatch struct {
	cl      *kgo.Client
	ln      *trackingListener
	cluster *kfake.Cluster // set before the first connection is accepted
	logger  *slog.Logger

	mu      sync.Mutex
	orphans []orphan
	wake    chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
}

func newGroupWatch(cl *kgo.Client, ln *trackingListener, logger *slog.Logger) *groupWatch {
	return &groupWatch{cl: cl, ln: ln, logger: logger, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// start runs the watch's goroutine, which ends on stop.
func (w *groupWatch) start(c *kfake.Cluster) {
	w.cluster = c
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go w.run(ctx)
}

// stop ends the goroutine and waits for it; queued orphans are dropped.
func (w *groupWatch) stop() {
	if w.cancel == nil {
		return
	}
	w.cancel()
	<-w.done
}

// orphaned queues the requests a closed connection left waiting; it never
// blocks the connection closing.
func (w *groupWatch) orphaned(os []orphan) {
	w.mu.Lock()
	w.orphans = append(w.orphans, os...)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *groupWatch) run(ctx context.Context) {
	defer close(w.done)
	tick := time.NewTicker(keepAliveEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
			w.mu.Lock()
			batch := w.orphans
			w.orphans = nil
			w.mu.Unlock()
			for group, os := range byGroup(batch) {
				if err := w.reap(ctx, group, os); err != nil && ctx.Err() == nil {
					w.log(slog.LevelWarn, "could not remove dead group members; they leave at their session timeout",
						slog.String("group", group), slog.Any("error", err))
				}
			}
		case <-tick.C:
			for group, ws := range byGroup(w.ln.waiting(keepAliveAfter)) {
				w.keepAlive(ctx, group, ws)
			}
		}
	}
}

func byGroup(os []orphan) map[string][]orphan {
	m := make(map[string][]orphan)
	for _, o := range os {
		m[o.group] = append(m[o.group], o)
	}
	return m
}

// reap removes from group the members the orphans belonged to. A member
// is removed only if the connection that created it is the one that
// closed: its client host (the address of the connection its first
// JoinGroup came on) must be the orphan's. That is the member kfake may
// never time out, and a connection cannot name another client's member
// to have it removed. A member created elsewhere keeps its session timer
// and times out as usual. Describing the group through the broker orders
// the lookup after the orphaned request itself.
func (w *groupWatch) reap(ctx context.Context, group string, os []orphan) error {
	ctx, cancel := context.WithTimeout(ctx, watchTimeout)
	defer cancel()
	dreq := kmsg.NewPtrDescribeGroupsRequest()
	dreq.Groups = []string{group}
	dresp, err := dreq.RequestWith(ctx, w.cl)
	if err != nil {
		return fmt.Errorf("describe group: %w", err)
	}
	if len(dresp.Groups) != 1 {
		return fmt.Errorf("describe group: %d groups in the answer", len(dresp.Groups))
	}
	if err := kerr.ErrorForCode(dresp.Groups[0].ErrorCode); err != nil {
		if err == kerr.GroupIDNotFound {
			return nil
		}
		return fmt.Errorf("describe group: %w", err)
	}
	lreq := kmsg.NewPtrLeaveGroupRequest()
	lreq.Group = group
	for _, m := range dresp.Groups[0].Members {
		for _, o := range os {
			if o.host == m.ClientHost && o.owns(m.MemberID, m.InstanceID) {
				lm := kmsg.NewLeaveGroupRequestMember()
				lm.MemberID = m.MemberID // not the instance id: that names whoever holds it now
				lm.Reason = kmsg.StringPtr("surge broker: the member's connection closed while it waited to join or sync")
				lreq.Members = append(lreq.Members, lm)
				break
			}
		}
	}
	if len(lreq.Members) == 0 {
		return nil
	}
	lresp, err := lreq.RequestWith(ctx, w.cl)
	if err != nil {
		return fmt.Errorf("leave group: %w", err)
	}
	if err := kerr.ErrorForCode(lresp.ErrorCode); err != nil {
		return fmt.Errorf("leave group: %w", err)
	}
	for _, lm := range lresp.Members {
		if kerr.ErrorForCode(lm.ErrorCode) != nil {
			continue // gone already
		}
		w.log(slog.LevelInfo, "removed a group member whose connection closed while it waited to join or sync",
			slog.String("group", group), slog.String("member_id", lm.MemberID))
	}
	return nil
}

// keepAlive heartbeats, at the group's current generation, for the members
// whose JoinGroup or SyncGroup waits on an open connection. A heartbeat
// that finds the generation moved on is simply late; the next round uses
// the new one.
func (w *groupWatch) keepAlive(ctx context.Context, group string, ws []orphan) {
	info := w.cluster.GroupInfo(group)
	if info == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, watchTimeout)
	defer cancel()
	for _, m := range info.Members {
		for _, o := range ws {
			if o.memberID == "" && o.host != m.ClientHost || !o.owns(m.MemberID, m.InstanceID) {
				continue
			}
			req := kmsg.NewPtrHeartbeatRequest()
			req.Group = group
			req.MemberID = m.MemberID
			req.InstanceID = m.InstanceID
			req.Generation = info.Epoch
			if _, err := req.RequestWith(ctx, w.cl); err != nil && ctx.Err() == nil {
				w.log(slog.LevelDebug, "heartbeat for a waiting group member failed",
					slog.String("group", group), slog.String("member_id", m.MemberID), slog.Any("error", err))
			}
			break
		}
	}
}

// owns reports whether the member with memberID and instanceID is the one
// the waiting request is for. A request without a member id created its
// member only when it was a static member's join (by instance id) or a
// JoinGroup before v4 (which joins at once); a later one first gets
// MEMBER_ID_REQUIRED and is not a member yet.
func (o orphan) owns(memberID string, instanceID *string) bool {
	switch {
	case o.memberID != "":
		return o.memberID == memberID
	case o.instanceID != nil:
		return instanceID != nil && *instanceID == *o.instanceID
	default:
		return o.key == int16(kmsg.JoinGroup) && o.version < 4 && instanceID == nil
	}
}

func (w *groupWatch) log(level slog.Level, msg string, attrs ...slog.Attr) {
	if w.logger != nil {
		w.logger.LogAttrs(context.Background(), level, msg, attrs...)
	}
}
