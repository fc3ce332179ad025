package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrNoTopic is returned by Plan for a topic that does not exist.
var ErrNoTopic = errors.New("topic does not exist")

// DefaultSwitchTimeout bounds how long Apply waits for live producers to
// switch before it writes the barrier anyway.
const DefaultSwitchTimeout = 30 * time.Second

// Resizer plans and performs resizes through the control topic.
type Resizer struct {
	conn   *Conn
	opts   []kgo.Opt
	log    *slog.Logger
	dryRun bool // from NewDryRunResizer: Apply refuses
}

// NewResizer connects to the control topic (created if missing) with a
// client built from clientOpts. Close it when done.
func NewResizer(ctx context.Context, controlTopic string, clientOpts []kgo.Opt, log *slog.Logger) (*Resizer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conn, err := Open(ctx, controlTopic, clientOpts, log)
	if err != nil {
		return nil, err
	}
	return &Resizer{conn: conn, opts: clientOpts, log: log}, nil
}

// NewDryRunResizer is NewResizer for plans only: it reads the control topic
// if it exists and creates nothing, so a dry run leaves the cluster as it
// was. Its Apply fails.
func NewDryRunResizer(ctx context.Context, controlTopic string, clientOpts []kgo.Opt, log *slog.Logger) (*Resizer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conn, err := open(ctx, controlTopic, clientOpts, log, false)
	if err != nil {
		return nil, err
	}
	return &Resizer{conn: conn, opts: clientOpts, log: log, dryRun: true}, nil
}

// Close closes the control connection.
func (z *Resizer) Close() { z.conn.Close() }

// Plan is what a resize does, as the dry run shows it.
type Plan struct {
	Topic     string `json:"topic"`
	TopicID   string `json:"topic_id"`
	Resize    string `json:"resize"`
	Old       int32  `json:"old"`
	New       int32  `json:"new"`
	OrderSafe bool   `json:"order_safe"`
	// Resuming: the resize began before and was not completed; applying
	// the plan completes it.
	Resuming bool `json:"resuming"`
	// MovedShare is the exact share of keys that land on another
	// partition, for a uniform hash.
	MovedShare float64    `json:"moved_share"`
	Sample     *KeySample `json:"sample,omitempty"`
	Feeds      []Feed     `json:"feeds"`
	Groups     []GroupUse `json:"groups"`
	Producers  []string   `json:"producers"`
	Steps      []string   `json:"steps"`
	Warnings   []string   `json:"warnings"`
}

// KeySample is the key movement measured on recent records of the topic.
type KeySample struct {
	Records    int     `json:"records"`
	Keys       int     `json:"keys"`
	Moved      int     `json:"moved"`
	MovedShare float64 `json:"moved_share"`
}

// Feed says which new partitions an old partition's keys spread over.
type Feed struct {
	Old int32   `json:"old"`
	New []int32 `json:"new"`
}

// GroupUse is a consumer group that consumes the topic.
type GroupUse struct {
	Group     string `json:"group"`
	Known     bool   `json:"known"`
	Component string `json:"component,omitempty"`
	State     string `json:"state"`
	Members   int    `json:"members"`
	Lag       int64  `json:"lag"`
}

// Plan checks a resize of topic to n partitions and describes it. sample
// bounds the recent records read to measure key movement (0 skips it).
func (z *Resizer) Plan(ctx context.Context, topic string, n int32, allowReorder bool, sample int) (*Plan, error) {
	if err := z.conn.CatchUp(ctx); err != nil {
		return nil, err
	}
	adm := z.conn.Admin()
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", topic, err)
	}
	d, ok := td[topic]
	if !ok || d.Err != nil {
		return nil, fmt.Errorf("%w: %s", ErrNoTopic, topic)
	}
	cur := int32(len(d.Partitions))
	st := z.conn.State()
	p := &Plan{Topic: topic, TopicID: d.ID.String(), New: n, Old: cur}
	var others []*Resize
	for _, r := range st.Open(topic) {
		if r.TopicID != "" && r.TopicID != p.TopicID {
			continue // of a topic deleted since
		}
		// cur > r.New: a later resize grew the topic further while this
		// one was interrupted; its new partitions stay held until it is
		// completed, which the gate tells the operator to do.
		if r.New == n && (cur == r.Old || cur >= r.New) {
			p.Old, p.Resuming, p.OrderSafe = r.Old, true, r.OrderSafe
		} else {
			others = append(others, r)
		}
	}
	if !p.Resuming {
		if p.OrderSafe, err = CheckResize(cur, n, allowReorder); err != nil {
			return nil, fmt.Errorf("resize %s: %w", topic, err)
		}
	}
	for _, r := range others {
		// Partitions it never created are another resize's to hold.
		if r.OrderSafe && r.New > r.Old && (r.Created || cur >= r.New) {
			p.Warnings = append(p.Warnings, fmt.Sprintf("resize %s (%d -> %d) is not complete: consumers hold partitions %d..%d until it is; complete it with: surge topics resize %s --partitions %d",
				r.ID, r.Old, r.New, r.Old, r.New-1, topic, r.New))
		}
	}
	p.Resize = ResizeID(topic, p.TopicID, p.Old, p.New)
	p.MovedShare = MovedShare(p.Old, p.New)
	feeds := Feeds(p.Old, p.New)
	for q := int32(0); q < p.Old; q++ {
		p.Feeds = append(p.Feeds, Feed{Old: q, New: feeds[q]})
	}
	if sample > 0 {
		if s, err := z.sample(ctx, topic, cur, p.Old, p.New, sample); err != nil {
			p.Warnings = append(p.Warnings, "could not sample keys: "+err.Error())
		} else {
			p.Sample = s
		}
	}
	if err := z.groups(ctx, p, st); err != nil {
		p.Warnings = append(p.Warnings, "could not list consumer groups: "+err.Error())
	}
	for _, pr := range st.Live(time.Now(), LiveWindow) {
		p.Producers = append(p.Producers, pr.ID)
	}
	p.steps()
	return p, nil
}

func (p *Plan) steps() {
	p.Steps = []string{
		fmt.Sprintf("write the resize's begin record (%s) to the control topic", p.Resize),
		fmt.Sprintf("grow %s from %d to %d partitions (CreatePartitions)", p.Topic, p.Old, p.New),
	}
	if !p.OrderSafe {
		p.Steps = append(p.Steps, "surge producers and consumers refresh their metadata and use the new partitions at once",
			"no barrier and no hold: per-key order is NOT kept for keys that move")
		p.Warnings = append(p.Warnings, fmt.Sprintf("%d is not a multiple of %d: keys move between existing partitions, and records of a moved key may be consumed out of order while the resize settles", p.New, p.Old))
		return
	}
	p.Steps = append(p.Steps,
		fmt.Sprintf("surge producers (%d live now) refresh their metadata, wait for their records partitioned with %d partitions to be acked, and ack the switch", len(p.Producers), p.Old),
		fmt.Sprintf("once all live producers switched (or after the switch timeout), write the barrier: the end offsets of partitions 0..%d", p.Old-1),
		fmt.Sprintf("surge consumer groups take partitions %d..%d on within seconds but hold each one until the group has consumed its parent (partition mod %d) past the barrier; then they consume it", p.Old, p.New-1, p.Old),
	)
}

// sample reads up to limit recent records spread over the topic's
// partitions and measures how many of their keys move.
func (z *Resizer) sample(ctx context.Context, topic string, cur, old, new int32, limit int) (*KeySample, error) {
	adm := z.conn.Admin()
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	per := int64(max(1, limit/int(max(cur, 1))))
	offsets := map[int32]kgo.Offset{}
	want := map[int32]int64{}
	for q := int32(0); q < cur; q++ {
		e, ok1 := ends.Lookup(topic, q)
		s, ok2 := starts.Lookup(topic, q)
		if !ok1 || !ok2 || e.Err != nil || s.Err != nil || e.Offset <= s.Offset {
			continue
		}
		from := max(s.Offset, e.Offset-per)
		offsets[q] = kgo.NewOffset().At(from)
		want[q] = e.Offset
	}
	ks := &KeySample{}
	if len(offsets) == 0 {
		return ks, nil
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), z.opts...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxWait(200*time.Millisecond))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var keys [][]byte
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for len(want) > 0 && sctx.Err() == nil {
		fs := cl.PollFetches(sctx)
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := want[r.Partition]; ok {
				keys = append(keys, r.Key)
				if r.Offset >= end-1 {
					delete(want, r.Partition)
				}
			}
		})
	}
	ks.Records = len(keys)
	ks.Keys, ks.Moved = SampleMoved(keys, old, new)
	if ks.Keys > 0 {
		ks.MovedShare = float64(ks.Moved) / float64(ks.Keys)
	}
	return ks, nil
}

// groups lists the consumer groups with offsets on, or members assigned
// to, the topic, and warns about those surge does not know.
func (z *Resizer) groups(ctx context.Context, p *Plan, st *State) error {
	adm := z.conn.Admin()
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		return err
	}
	names := listed.Groups()
	if len(names) == 0 {
		return nil
	}
	lags, err := adm.Lag(ctx, names...)
	if err != nil {
		return err
	}
	for _, l := range lags.Sorted() {
		parts, ok := l.Lag[p.Topic]
		if !ok {
			continue
		}
		u := GroupUse{Group: l.Group, State: l.State, Members: len(l.Members)}
		for _, ml := range parts {
			if ml.Lag > 0 {
				u.Lag += ml.Lag
			}
		}
		if g, ok := st.Groups[l.Group]; ok {
			u.Known, u.Component = true, g.Component
		} else {
			p.Warnings = append(p.Warnings, fmt.Sprintf("consumer group %q consumes %s but is not one of surge's (it never registered in the control topic): it will consume the new partitions without holding them, so it may see a moved key's new records before its older ones", l.Group, p.Topic))
		}
		p.Groups = append(p.Groups, u)
	}
	return nil
}

// Progress is one step of Apply, for the caller to print.
type Progress struct {
	Step     string   `json:"step"` // begin, created, switched, barrier, done
	Message  string   `json:"message"`
	Switched int      `json:"switched,omitempty"`
	Live     int      `json:"live,omitempty"`
	Barrier  []int64  `json:"barrier,omitempty"`
	Missing  []string `json:"missing,omitempty"`
}

// Apply performs plan: the begin record (unless resuming), the new
// partitions, the producers' switch (up to switchTimeout) and the barrier.
// It can be run again on the same plan after an interruption.
func (z *Resizer) Apply(ctx context.Context, p *Plan, switchTimeout time.Duration, progress func(Progress)) error {
	if z.dryRun {
		return fmt.Errorf("resize %s: a dry-run resizer does not apply plans", p.Topic)
	}
	if progress == nil {
		progress = func(Progress) {}
	}
	if switchTimeout <= 0 {
		switchTimeout = DefaultSwitchTimeout
	}
	adm := z.conn.Admin()
	if !p.Resuming {
		if err := z.conn.Write(ctx, Record{Kind: KindBegin, Resize: p.Resize, Topic: p.Topic, TopicID: p.TopicID,
			Old: p.Old, New: p.New, OrderSafe: p.OrderSafe}); err != nil {
			return err
		}
		progress(Progress{Step: "begin", Message: fmt.Sprintf("resize %s begun", p.Resize)})
	} else {
		progress(Progress{Step: "begin", Message: fmt.Sprintf("resuming resize %s", p.Resize)})
	}
	td, err := adm.ListTopics(ctx, p.Topic)
	if err != nil {
		return fmt.Errorf("describe %s: %w", p.Topic, err)
	}
	if cur := int32(len(td[p.Topic].Partitions)); cur < p.New {
		resp, err := adm.UpdatePartitions(ctx, int(p.New), p.Topic)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return fmt.Errorf("create partitions of %s: %w", p.Topic, err)
		}
	}
	if err := z.conn.Write(ctx, Record{Kind: KindCreated, Resize: p.Resize, Topic: p.Topic}); err != nil {
		return err
	}
	progress(Progress{Step: "created", Message: fmt.Sprintf("%s has %d partitions", p.Topic, p.New)})
	if !p.OrderSafe {
		progress(Progress{Step: "done", Message: "done; per-key order was not kept for keys that moved"})
		return nil
	}
	missing, err := z.awaitSwitch(ctx, p, switchTimeout, progress)
	if err != nil {
		return err
	}
	ends, err := adm.ListEndOffsets(ctx, p.Topic)
	if err != nil {
		return fmt.Errorf("list end offsets of %s: %w", p.Topic, err)
	}
	barrier := make([]int64, p.Old)
	for q := int32(0); q < p.Old; q++ {
		o, ok := ends.Lookup(p.Topic, q)
		if !ok || o.Err != nil {
			return fmt.Errorf("end offset of %s[%d]: %v", p.Topic, q, o.Err)
		}
		barrier[q] = o.Offset
	}
	if err := z.conn.Write(ctx, Record{Kind: KindBarrier, Resize: p.Resize, Topic: p.Topic, Old: p.Old, New: p.New,
		Offsets: barrier, Missing: missing}); err != nil {
		return err
	}
	progress(Progress{Step: "barrier", Message: fmt.Sprintf("barrier written: %v", barrier), Barrier: barrier, Missing: missing})
	return nil
}

// awaitSwitch waits until every live producer acked the switch, or the
// timeout, and returns the producers that did not.
func (z *Resizer) awaitSwitch(ctx context.Context, p *Plan, timeout time.Duration, progress func(Progress)) ([]string, error) {
	deadline := time.Now().Add(timeout)
	last := -1
	waited := map[string]bool{} // producers live at some point of the wait
	for {
		if err := z.conn.CatchUp(ctx); err != nil {
			return nil, err
		}
		st := z.conn.State()
		r := st.Resizes[p.Resize]
		if r == nil {
			return nil, fmt.Errorf("resize %s: its begin record is missing from the control topic", p.Resize)
		}
		var missing []string
		live := st.Live(time.Now(), LiveWindow)
		for _, pr := range live {
			waited[pr.ID] = true
			if _, ok := r.Switched[pr.ID]; !ok {
				missing = append(missing, pr.ID)
			}
		}
		if n := len(live) - len(missing); n != last {
			last = n
			progress(Progress{Step: "switched", Message: fmt.Sprintf("producers switched %d/%d", n, len(live)), Switched: n, Live: len(live)})
		}
		if len(missing) == 0 {
			// Not waited for any more, but named: a producer that went
			// silent without acking or closing (crashed, or cut off
			// from the control topic while still producing).
			var silent []string
			for id := range waited {
				if _, ok := r.Switched[id]; !ok && !st.Producers[id].Closed {
					silent = append(silent, id)
				}
			}
			if len(silent) > 0 {
				slices.Sort(silent)
				z.log.Warn("producers stopped heartbeating without acking the switch; writing the barrier without them: if they still produce, their records written with the old partition count may be consumed out of order",
					"silent", silent)
				progress(Progress{Step: "switched", Message: fmt.Sprintf("producers that stopped heartbeating without acking: %v", silent), Missing: silent})
			}
			return silent, nil
		}
		if time.Now().After(deadline) {
			for id := range waited {
				if _, ok := r.Switched[id]; !ok && !st.Producers[id].Closed && !slices.Contains(missing, id) {
					missing = append(missing, id) // went silent meanwhile
				}
			}
			slices.Sort(missing)
			z.log.Warn("producers did not switch within the switch timeout; writing the barrier without them: their records written with the old partition count after it may be consumed out of order",
				"missing", missing, "timeout", timeout)
			progress(Progress{Step: "switched", Message: fmt.Sprintf("switch timeout %s: producers that did not ack: %v", timeout, missing), Missing: missing})
			return missing, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
