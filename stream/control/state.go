package control

import (
	"maps"
	"slices"
	"time"
)

// State is what the control topic says, read from its start.
type State struct {
	Producers map[string]Producer
	Groups    map[string]Group
	Resizes   map[string]*Resize
}

// Producer is a surge producer taking part in resizes.
type Producer struct {
	ID     string
	Client string
	Topics []string
	Seen   time.Time // time of its last heartbeat
	Closed bool
}

// Group is a consumer group registered by surge (dispatch, triggers,
// sink).
type Group struct {
	Name      string
	Component string
	Topics    []string
	Seen      time.Time
}

// Resize is one resize as far as the control topic tells it.
type Resize struct {
	ID        string
	Topic     string
	TopicID   string
	Old, New  int32
	OrderSafe bool
	Begun     time.Time
	Created   bool
	// Switched holds the producers that acked, with the ack time.
	Switched map[string]time.Time
	// Barrier is the old partitions' end offsets (index = partition), nil
	// until the barrier is written.
	Barrier   []int64
	BarrierAt time.Time
	// Missing names the producers that had not acked when the barrier was
	// written: live ones at the switch timeout, and ones that stopped
	// heartbeating during the wait without acking or closing.
	Missing []string
}

// Done reports whether consumers need nothing more from the resize: its
// barrier is written, or it does not keep order and its partitions exist.
func (r *Resize) Done() bool { return r.Barrier != nil || (!r.OrderSafe && r.Created) }

// Parent returns the old partition that keys now on partition p came from
// (p mod old), and whether p is one of the resize's new partitions.
func (r *Resize) Parent(p int32) (int32, bool) {
	if p < r.Old || p >= r.New || r.Old <= 0 {
		return 0, false
	}
	return p % r.Old, true
}

func newState() *State {
	return &State{Producers: map[string]Producer{}, Groups: map[string]Group{}, Resizes: map[string]*Resize{}}
}

func (s *State) resize(id string) *Resize {
	r := s.Resizes[id]
	if r == nil {
		r = &Resize{ID: id, Switched: map[string]time.Time{}}
		s.Resizes[id] = r
	}
	return r
}

// apply folds one record into s.
func (s *State) apply(rec Record) {
	switch rec.Kind {
	case KindHeartbeat:
		s.Producers[rec.Producer] = Producer{ID: rec.Producer, Client: rec.Client, Topics: rec.Topics, Seen: rec.Time, Closed: rec.Closed}
	case KindGroup:
		s.Groups[rec.Group] = Group{Name: rec.Group, Component: rec.Component, Topics: rec.Topics, Seen: rec.Time}
	case KindBegin:
		r := s.resize(rec.Resize)
		r.Topic, r.TopicID, r.Old, r.New, r.OrderSafe, r.Begun = rec.Topic, rec.TopicID, rec.Old, rec.New, rec.OrderSafe, rec.Time
	case KindCreated:
		s.resize(rec.Resize).Created = true
	case KindSwitched:
		s.resize(rec.Resize).Switched[rec.Producer] = rec.Time
	case KindBarrier:
		r := s.resize(rec.Resize)
		r.Barrier, r.BarrierAt, r.Missing = rec.Offsets, rec.Time, rec.Missing
		if r.Barrier == nil {
			r.Barrier = []int64{}
		}
		r.Created = true
	}
}

// clone returns a deep copy that the caller may keep.
func (s *State) clone() *State {
	c := &State{Producers: maps.Clone(s.Producers), Groups: maps.Clone(s.Groups), Resizes: make(map[string]*Resize, len(s.Resizes))}
	for id, r := range s.Resizes {
		cr := *r
		cr.Switched = maps.Clone(r.Switched)
		cr.Barrier = slices.Clone(r.Barrier)
		cr.Missing = slices.Clone(r.Missing)
		c.Resizes[id] = &cr
	}
	return c
}

// Live returns the producers whose last heartbeat is within window of now
// and that did not close, sorted by id.
func (s *State) Live(now time.Time, window time.Duration) []Producer {
	var out []Producer
	for _, p := range s.Producers {
		if !p.Closed && now.Sub(p.Seen) <= window {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b Producer) int { return cmpString(a.ID, b.ID) })
	return out
}

// Creator returns the order-safe resize of topic that created partition p,
// if any. topicID, when not empty, must match the resize's (a topic
// deleted and created again under its name is another topic). A resize
// whose begin record is missing (compacted away while others remain) is
// skipped.
func (s *State) Creator(topic, topicID string, p int32) *Resize {
	var best *Resize
	for _, r := range s.Resizes {
		if r.Topic != topic || (topicID != "" && r.TopicID != "" && r.TopicID != topicID) || !r.OrderSafe {
			continue
		}
		if _, ok := r.Parent(p); !ok {
			continue
		}
		if best == nil || r.Begun.After(best.Begun) {
			best = r
		}
	}
	return best
}

// Open returns the resizes of topic that began and are not done, oldest
// first.
func (s *State) Open(topic string) []*Resize {
	var out []*Resize
	for _, r := range s.Resizes {
		if r.Topic == topic && r.Topic != "" && !r.Done() {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *Resize) int { return a.Begun.Compare(b.Begun) })
	return out
}

// BaseCount is the partition count topic had before its first resize on
// record (the smallest old count of its resizes that do not go beyond
// current), or current when none is recorded. topicID, when not empty,
// must match the resizes' (a topic deleted and created again under its
// name is another topic).
func (s *State) BaseCount(topic, topicID string, current int32) int32 {
	base := current
	for _, r := range s.Resizes {
		if topicID != "" && r.TopicID != "" && r.TopicID != topicID {
			continue
		}
		if r.Topic == topic && r.New <= current && r.Old > 0 && r.Old < base {
			base = r.Old
		}
	}
	return base
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
