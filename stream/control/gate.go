package control

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Gate defaults.
const (
	DefaultGatePoll = 250 * time.Millisecond
	// holdWarnEvery is how often a partition held by a resize without a
	// barrier is logged.
	holdWarnEvery = 30 * time.Second
	// catchUpTimeout bounds reading the control topic on an assignment.
	catchUpTimeout = 10 * time.Second
)

// GateConfig configures OpenGate.
type GateConfig struct {
	Group      string   // the consumer group (required)
	Component  string   // "dispatch", "triggers" or "sink", for operators
	Topics     []string // the topics the group consumes
	Topic      string   // control topic; DefaultTopic when empty
	ClientOpts []kgo.Opt
	Logger     *slog.Logger
	Poll       time.Duration // how often held partitions are checked; DefaultGatePoll when 0
	// Companion, when set, names a partition whose records also belong to
	// the parent partition's keys (dispatch: the parent's retry
	// partition). A held partition is then released only once, after the
	// parent passed the barrier, the group's committed offset on the
	// companion reaches the companion's end offset observed at that moment.
	Companion func(topic string, parent int32) (string, int32, bool)
}

// Gate holds a consumer group member's new partitions of a resized topic
// until the group has consumed their parent partition past the resize's
// barrier. Wire it into the member's client: Assigned from
// OnPartitionsAssigned (before any record of them is fetched) and Revoked
// from OnPartitionsRevoked and OnPartitionsLost. It also refreshes the
// member's metadata as soon as a resize of one of its topics begins or its
// partitions are created, so the group takes the new partitions on within
// a second instead of after the metadata max age (5 minutes by default).
type Gate struct {
	cfg  GateConfig
	conn *Conn
	adm  *kadm.Client
	log  *slog.Logger

	mu      sync.Mutex
	member  *kgo.Client
	held    map[heldKey]*hold
	noticed map[string]int // resize id -> 1 begun, 2 created: refreshes done

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type heldKey struct {
	topic     string
	partition int32
}

type hold struct {
	since  time.Time
	warned time.Time
	// chain is the resize that created the partition and its parent,
	// then the resize that created that parent (if one did) and its
	// parent, and so on down to a partition no resize created. A parent
	// that was empty at its barrier says nothing about its own parent,
	// so every link must be passed, not only the first.
	chain []link
}

type link struct {
	resize     string
	parent     int32
	compTopic  string
	compPart   int32
	compTarget int64 // companion end offset to reach; -1 until observed
}

// OpenGate connects to the control topic, registers the group there (so a
// resize knows it is one of surge's), reads the topic to its end and
// starts watching it. Close stops it.
func OpenGate(ctx context.Context, cfg GateConfig) (*Gate, error) {
	if cfg.Group == "" {
		return nil, fmt.Errorf("open resize gate: no group")
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultGatePoll
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("group", cfg.Group)
	conn, err := Open(ctx, cfg.Topic, cfg.ClientOpts, log)
	if err != nil {
		return nil, fmt.Errorf("open resize gate: %w", err)
	}
	g := &Gate{cfg: cfg, conn: conn, adm: conn.Admin(), log: log, held: map[heldKey]*hold{}, noticed: map[string]int{}}
	err = conn.Write(ctx, Record{Kind: KindGroup, Group: cfg.Group, Component: cfg.Component, Topics: cfg.Topics})
	if err == nil {
		err = conn.CatchUp(ctx)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("open resize gate: %w", err)
	}
	g.notice(conn.State()) // resizes done before the start need no refresh
	lctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	g.wg.Add(1)
	go g.loop(lctx) // ends on Close
	return g, nil
}

// Close stops watching; held partitions stay paused (the member is closing).
// State is the control topic's state as the gate last read it.
func (g *Gate) State() *State { return g.conn.State() }

// Close stops the gate.
func (g *Gate) Close() {
	g.cancel()
	g.wg.Wait()
	g.conn.Close()
}

// SetMember sets the member's client, for metadata refreshes before the
// first assignment.
func (g *Gate) SetMember(cl *kgo.Client) {
	g.mu.Lock()
	g.member = cl
	g.mu.Unlock()
}

// Held returns the partitions held now.
func (g *Gate) Held() map[string][]int32 {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string][]int32{}
	for k := range g.held {
		out[k.topic] = append(out[k.topic], k.partition)
	}
	for _, ps := range out {
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	}
	return out
}

// Assigned pauses fetching of every newly assigned partition that a resize
// created and whose parent the group has not consumed past the barrier
// yet (or whose resize has no barrier yet). Call it from
// OnPartitionsAssigned: kgo starts fetching assigned partitions after the
// callback returns, so no record of a held partition is fetched.
func (g *Gate) Assigned(ctx context.Context, cl *kgo.Client, assigned map[string][]int32) {
	g.SetMember(cl)
	if len(assigned) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, catchUpTimeout)
	defer cancel()
	if err := g.conn.CatchUp(cctx); err != nil {
		// What was read so far still holds the resizes it tells of.
		g.log.Error("resize gate: reading the control topic to its end failed; holding by what was read so far, partitions of a resize begun since are not held", "err", err)
		cctx, cancel = context.WithTimeout(ctx, catchUpTimeout)
		defer cancel()
	}
	st := g.conn.State()
	var topics []string
	for t := range assigned {
		topics = append(topics, t)
	}
	ids := map[string]string{}
	if td, err := g.adm.ListTopics(cctx, topics...); err == nil {
		for t, d := range td {
			if d.Err == nil {
				ids[t] = d.ID.String()
			}
		}
	}
	pause := map[string][]int32{}
	now := time.Now()
	g.mu.Lock()
	for t, ps := range assigned {
		for _, p := range ps {
			r := st.Creator(t, ids[t], p)
			if r == nil {
				continue
			}
			h := &hold{since: now, warned: now}
			for cur := p; r != nil; r = st.Creator(t, ids[t], cur) {
				parent, _ := r.Parent(cur) // < cur: the chain ends
				l := link{resize: r.ID, parent: parent, compTarget: -1}
				if g.cfg.Companion != nil {
					l.compTopic, l.compPart, _ = g.cfg.Companion(t, parent)
				}
				h.chain = append(h.chain, l)
				cur = parent
			}
			g.held[heldKey{t, p}] = h
			pause[t] = append(pause[t], p)
		}
	}
	g.mu.Unlock()
	if len(pause) == 0 {
		return
	}
	cl.PauseFetchPartitions(pause)
	g.release(cctx) // those whose parent is past the barrier go at once
	if held := g.Held(); len(held) > 0 {
		g.log.Info("resize gate: holding new partitions until their parents are consumed past the resize barrier", "held", fmt.Sprint(held))
	}
}

// Revoked forgets revoked or lost partitions.
func (g *Gate) Revoked(cl *kgo.Client, revoked map[string][]int32) {
	resume := map[string][]int32{}
	g.mu.Lock()
	for t, ps := range revoked {
		for _, p := range ps {
			if _, ok := g.held[heldKey{t, p}]; ok {
				delete(g.held, heldKey{t, p})
				resume[t] = append(resume[t], p)
			}
		}
	}
	g.mu.Unlock()
	if len(resume) > 0 && cl != nil {
		cl.ResumeFetchPartitions(resume) // clears the pause for a later assignment
	}
}

func (g *Gate) loop(ctx context.Context) {
	defer g.wg.Done()
	tick := time.NewTicker(g.cfg.Poll)
	defer tick.Stop()
	for {
		changed := g.conn.Changed()
		select {
		case <-ctx.Done():
			return
		case <-changed:
			g.notice(g.conn.State())
		case <-tick.C:
			g.release(ctx)
		}
	}
}

// notice refreshes the member's metadata when a resize of its topics
// begins or its partitions are created: kgo's group leader rejoins when
// it sees a topic's partition count change, and the others follow.
func (g *Gate) notice(st *State) {
	g.mu.Lock()
	member := g.member
	refresh := false
	for id, r := range st.Resizes {
		if !g.consumes(r.Topic) {
			continue
		}
		stage := 1
		if r.Created {
			stage = 2
		}
		if g.noticed[id] < stage {
			g.noticed[id] = stage
			refresh = true
		}
	}
	g.mu.Unlock()
	if refresh && member != nil {
		member.ForceMetadataRefresh()
		// Once more a second later, in case a broker answered the first
		// refresh before it learnt of the new partitions.
		time.AfterFunc(time.Second, member.ForceMetadataRefresh)
		g.log.Info("resize gate: a resize of a consumed topic progressed; refreshing metadata")
	}
}

func (g *Gate) consumes(topic string) bool {
	for _, t := range g.cfg.Topics {
		if t == topic {
			return true
		}
	}
	return false
}

func maxNew(r *Resize) int32 {
	if r == nil {
		return 0
	}
	return r.New
}
