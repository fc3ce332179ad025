package broker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/admin"
	"github.com/surgeio/surge/stream/sink"
	"github.com/surgeio/surge/stream/triggers"
)

// Group timeouts of the processes under test. 6 s is the broker's smallest
// allowed session timeout (group.min.session.timeout.ms).
const (
	killSession   = 6 * time.Second
	killRebalance = 10 * time.Second
	// recoveryBound is what the broker promises: a group is fully
	// assigned to its live members within the session timeout and 5 s
	// of a member's kill -9.
	recoveryBound = killSession + 5*time.Second
	killCycles    = 4 // two kills each
	killInstances = 3
)

// killedGroup is one kind of surge consumer group under test: killInstances
// processes of one command sharing a group.
type killedGroup struct {
	name  string // the command
	group string
	args  func(slot int) []string

	t     *testing.T
	log   *os.File
	procs []*exec.Cmd // by slot; nil while the slot is down
	// owner maps a member id to the process it belongs to, learned from
	// the member's client host while its join connection is open.
	owner map[string]int
	adm   *kadm.Client
}

// TestGroupsRecoverFromKill9 runs three instances each of surge sink,
// dispatch and triggers against `surge broker`, and kills them with
// SIGKILL at random moments: while consuming, and while the group
// rebalances because a killed instance restarts (sometimes the restarting
// instance itself, during its join). After each pair of kills, the group
// must be stable and fully assigned to exactly the live instances within
// the session timeout and 5 s.
func TestGroupsRecoverFromKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 test is long; runs without -short (and always in CI)")
	}
	b := startBrokerProcess(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cl := b.client()
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := admin.New(cl).EnsureTopics(ctx, admin.DefaultSpecs(stream.DefaultTopics(), 8, 1)); err != nil {
		t.Fatal(err)
	}
	ch := testenv.ClickHouseConn(t)
	chAddr := testenv.ClickHouse(t).Addr()
	timeouts := []string{"--session-timeout", killSession.String(), "--rebalance-timeout", killRebalance.String(), "--log-level", "warn"}

	groups := []*killedGroup{
		{name: "sink", group: sink.DefaultGroup, args: func(int) []string {
			return append([]string{"sink", "--brokers", b.addr, "--clickhouse", chAddr,
				"--clickhouse-database", ch.Database()}, timeouts...)
		}},
		{name: "dispatch", group: "inventory", args: func(int) []string {
			return append([]string{"dispatch", "--brokers", b.addr, "--group", "inventory",
				"--simulate", "inventory"}, timeouts...)
		}},
		{name: "triggers", group: triggers.DefaultGroup, args: func(slot int) []string {
			return append([]string{"triggers", "--brokers", b.addr, "--instance-id", fmt.Sprintf("kill-%d", slot)}, timeouts...)
		}},
	}
	var wg sync.WaitGroup
	results := make([][]time.Duration, len(groups))
	for i, g := range groups {
		g.t, g.adm, g.owner = t, adm, make(map[string]int)
		g.log = testenv.LogFile(t, g.name)
		g.procs = make([]*exec.Cmd, killInstances)
		t.Cleanup(g.stopAll)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = g.run(ctx, rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano()))))
		}()
	}
	wg.Wait()
	t.Logf("the broker removed %d members whose connection closed while they waited to join or sync",
		b.logCount("removed a group member whose connection closed"))
	for i, g := range groups {
		t.Logf("%s: recovery after the second kill of each pair: %v (bound %v)", g.name, results[i], recoveryBound)
	}
}

// run starts the instances, waits for the group to form, then does the
// kill cycles and returns the measured recovery times.
func (g *killedGroup) run(ctx context.Context, rng *rand.Rand) []time.Duration {
	for slot := range g.procs {
		g.start(slot)
	}
	if _, ok, _ := g.waitRecovered(ctx, time.Now(), time.Minute); !ok {
		g.t.Errorf("%s: group %s never formed with %d instances", g.name, g.group, killInstances)
		return nil
	}
	var times []time.Duration
	for cycle := range killCycles {
		for slot, p := range g.procs { // an instance left down last cycle comes back
			if p == nil {
				g.start(slot)
			}
		}
		sleep(ctx, time.Duration(200+rng.IntN(1800))*time.Millisecond)
		a := rng.IntN(killInstances)
		g.kill(a)
		restartA := cycle != 1 // once, the killed instance stays down
		if restartA {
			g.start(a)
		}
		// The restart (or the kill) starts a rebalance; kill again
		// while it runs, sometimes the restarted instance in its join.
		sleep(ctx, time.Duration(rng.IntN(1200))*time.Millisecond)
		bs := g.up()
		victim := bs[rng.IntN(len(bs))]
		if restartA && rng.IntN(3) == 0 {
			victim = a
		}
		g.kill(victim)
		killed := time.Now()
		g.start(victim)
		d, ok, trace := g.waitRecovered(ctx, killed, 2*recoveryBound)
		if !ok {
			g.t.Errorf("%s cycle %d: group %s not fully assigned to its live instances after %v (bound %v); states since the kill:%s",
				g.name, cycle, g.group, d.Round(100*time.Millisecond), recoveryBound, trace)
			return times
		}
		times = append(times, d.Round(100*time.Millisecond))
		if d > recoveryBound {
			g.t.Errorf("%s cycle %d: group %s took %v to recover, want at most %v; states since the kill:%s",
				g.name, cycle, g.group, d, recoveryBound, trace)
		}
	}
	return times
}

func (g *killedGroup) start(slot int) {
	g.procs[slot] = testenv.StartSurge(g.t, g.log, g.args(slot)...)
}

func (g *killedGroup) kill(slot int) {
	if p := g.procs[slot]; p != nil {
		_ = p.Process.Kill()
		_ = p.Wait()
		g.procs[slot] = nil
	}
}

func (g *killedGroup) stopAll() {
	for slot := range g.procs {
		g.kill(slot)
	}
}

// up returns the slots with a running instance.
func (g *killedGroup) up() []int {
	var s []int
	for slot, p := range g.procs {
		if p != nil {
			s = append(s, slot)
		}
	}
	return s
}

func (g *killedGroup) pids() []int {
	var pids []int
	for _, p := range g.procs {
		if p != nil {
			pids = append(pids, p.Process.Pid)
		}
	}
	return pids
}

// waitRecovered polls the group until it is stable with one member per
// running instance, no member of a dead one, and every partition of its
// topics assigned; it returns how long that took from since, and the
// group's states on the way (for a failure message).
func (g *killedGroup) waitRecovered(ctx context.Context, since time.Time, limit time.Duration) (time.Duration, bool, string) {
	var trace strings.Builder
	last := ""
	for {
		if d := g.describe(ctx); d != last {
			fmt.Fprintf(&trace, "\n  +%v live %v: %s", time.Since(since).Round(100*time.Millisecond), g.pids(), d)
			last = d
		}
		if g.recovered(ctx) {
			return time.Since(since), true, trace.String()
		}
		if time.Since(since) > limit || ctx.Err() != nil {
			return time.Since(since), false, trace.String()
		}
		sleep(ctx, 100*time.Millisecond)
	}
}

func (g *killedGroup) recovered(ctx context.Context) bool {
	dg, err := g.adm.DescribeGroups(ctx, g.group)
	if err != nil {
		return false
	}
	d, ok := dg[g.group]
	if !ok || d.Err != nil {
		return false
	}
	live := g.pids()
	owners := make(map[int]bool)
	for _, m := range d.Members {
		pid, ok := g.owner[m.MemberID]
		if !ok {
			if pid = socketOwner(m.ClientHost, live); pid != 0 {
				g.owner[m.MemberID] = pid
			}
		}
		if pid == 0 || !slices.Contains(live, pid) || owners[pid] {
			return false // a dead instance's member, or one not yet known
		}
		owners[pid] = true
	}
	if d.State != "Stable" || len(owners) != len(live) {
		return false
	}
	return g.fullyAssigned(ctx, d)
}

// fullyAssigned reports whether every partition of the topics the members
// subscribe to is assigned to exactly one member.
func (g *killedGroup) fullyAssigned(ctx context.Context, d kadm.DescribedGroup) bool {
	topics := make(map[string]bool)
	assigned := make(map[string]map[int32]int)
	for _, m := range d.Members {
		meta, ok := m.Join.AsConsumer()
		if !ok {
			return false
		}
		for _, tp := range meta.Topics {
			topics[tp] = true
		}
		a, ok := m.Assigned.AsConsumer()
		if !ok {
			return false
		}
		for _, at := range a.Topics {
			if assigned[at.Topic] == nil {
				assigned[at.Topic] = make(map[int32]int)
			}
			for _, p := range at.Partitions {
				assigned[at.Topic][p]++
			}
		}
	}
	names := make([]string, 0, len(topics))
	for tp := range topics {
		names = append(names, tp)
	}
	tds, err := g.adm.ListTopics(ctx, names...)
	if err != nil {
		return false
	}
	for _, td := range tds {
		if td.Err != nil {
			continue // subscribed, not created yet: nothing to assign
		}
		for p := range td.Partitions {
			if assigned[td.Topic][p] != 1 {
				return false
			}
		}
	}
	return true
}

// describe says what the group looks like, for a failure message.
func (g *killedGroup) describe(ctx context.Context) string {
	dg, err := g.adm.DescribeGroups(ctx, g.group)
	if err != nil {
		return err.Error()
	}
	d := dg[g.group]
	var b strings.Builder
	fmt.Fprintf(&b, "state %s, %d members:", d.State, len(d.Members))
	for _, m := range d.Members {
		owner, ok := g.owner[m.MemberID]
		var parts int
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, at := range a.Topics {
				parts += len(at.Partitions)
			}
		}
		fmt.Fprintf(&b, " [%s from %s, pid %d (known %v), %d partitions]", m.MemberID, m.ClientHost, owner, ok, parts)
	}
	return b.String()
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
