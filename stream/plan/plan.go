package plan

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// DefaultHeadroom is the factor plans multiply the forecast by: capacity
// for twice the forecast peak, i.e. partitions and consumers at most 50%
// busy at the forecast. The slack covers a forecast that is short, a
// partition hotter than average (keys are not spread evenly: one big
// shopper or bot stays on one partition) and catching up after a consumer
// restart or rebalance while traffic keeps arriving.
const DefaultHeadroom = 2.0

// What a plan does to a topic.
const (
	ActionKeep   = "keep"   // the topic has enough partitions
	ActionGrow   = "grow"   // add partitions (surge topics resize)
	ActionCreate = "create" // the topic does not exist yet
)

// Options tune Compute.
type Options struct {
	// Headroom multiplies the forecast; default DefaultHeadroom. 2.0
	// means target utilisation 50%.
	Headroom float64
	// Handler is the handler capacity of dispatch groups that the
	// forecast does not list: per instance, MaxInFlight / HandlerLatency
	// records/s. Zero leaves them at the consume capacity.
	Handler GroupForecast
}

// TopicPlan is the recommendation for one topic, with its arithmetic.
type TopicPlan struct {
	Topic         string  `json:"topic"`
	RecordsPerSec float64 `json:"forecast_records_per_sec"`
	BytesPerSec   float64 `json:"forecast_bytes_per_sec"`
	Headroom      float64 `json:"headroom"`
	// PartitionRecordsPerSec and PartitionBytesPerSec are the capacity
	// of one partition used (Capacity.PartitionRecordsPerSec).
	PartitionRecordsPerSec float64 `json:"partition_records_per_sec"`
	PartitionBytesPerSec   float64 `json:"partition_bytes_per_sec,omitempty"`
	// ByRecords is RecordsPerSec × Headroom / PartitionRecordsPerSec
	// before rounding; ByBytes the same in bytes (0 with no byte
	// capacity).
	ByRecords float64 `json:"by_records"`
	ByBytes   float64 `json:"by_bytes,omitempty"`
	// Needed is the larger of ByRecords and ByBytes rounded up (at
	// least 1).
	Needed int32 `json:"needed"`
	// CurrentPartitions is 0 for a missing topic.
	CurrentPartitions int32 `json:"current_partitions"`
	// Partitions is the recommendation: Needed rounded up to a multiple of
	// CurrentPartitions, and at least CurrentPartitions.
	Partitions int32  `json:"partitions"`
	Action     string `json:"action"`
	Arithmetic string `json:"arithmetic"`
}

// GroupPlan is the recommendation for one consumer group.
type GroupPlan struct {
	Group  string   `json:"group"`
	Topics []string `json:"topics"`
	// RecordsPerSec is the forecast of the group's topics, summed.
	RecordsPerSec float64 `json:"forecast_records_per_sec"`
	// InstanceRecordsPerSec is what one instance handles, and
	// InstanceCapacity where that figure comes from.
	InstanceRecordsPerSec float64 `json:"instance_records_per_sec"`
	InstanceCapacity      string  `json:"instance_capacity"`
	// Exact is RecordsPerSec × headroom / InstanceRecordsPerSec; Needed
	// rounds it up.
	Exact  float64 `json:"exact"`
	Needed int     `json:"needed"`
	// MaxUseful is the planned partitions of the group's topics, summed:
	// more instances than that would sit idle.
	MaxUseful int `json:"max_useful"`
	// Instances is Needed capped at MaxUseful (at least 1).
	Instances      int    `json:"instances"`
	Capped         bool   `json:"capped"`
	CurrentMembers int    `json:"current_members"`
	Arithmetic     string `json:"arithmetic"`
	Warning        string `json:"warning,omitempty"`
}

// Plan is a recommendation for a forecast peak.
type Plan struct {
	Headroom float64     `json:"headroom"`
	Capacity Capacity    `json:"capacity"`
	Topics   []TopicPlan `json:"topics"`
	Groups   []GroupPlan `json:"groups"`
	Notes    []string    `json:"notes,omitempty"`
}

// Topic returns the plan of topic, if the forecast covers it.
func (p *Plan) Topic(topic string) (TopicPlan, bool) {
	for _, t := range p.Topics {
		if t.Topic == topic {
			return t, true
		}
	}
	return TopicPlan{}, false
}

// Group returns the plan of group, if there is one.
func (p *Plan) Group(group string) (GroupPlan, bool) {
	for _, g := range p.Groups {
		if g.Group == group {
			return g, true
		}
	}
	return GroupPlan{}, false
}

// Compute sizes every forecast topic and every consumer group of st that
// reads one. st may be nil (nothing exists yet).
//
// Per topic: partitions = ceil(peak × headroom / capacity per partition),
// in records and, when the capacity has a byte figure, in bytes, the larger
// of the two; then rounded up to a multiple of the current count (growing
// by whole multiples lets a resize keep each key's order: every old
// partition splits into the same number of new ones), and never below it.
//
// Per group: instances = ceil(peak of its topics × headroom / capacity per
// instance), capped at the planned partitions of its topics.
func Compute(f Forecast, c Capacity, st *State, o Options) (*Plan, error) {
	if o.Headroom == 0 {
		o.Headroom = DefaultHeadroom
	}
	if o.Headroom < 1 {
		return nil, fmt.Errorf("headroom %.2f: want 1 or more (2.0 plans for twice the forecast)", o.Headroom)
	}
	if err := c.Valid(); err != nil {
		return nil, err
	}
	if len(f.Topics) == 0 {
		return nil, fmt.Errorf("%w: no topics in the forecast", ErrForecast)
	}
	if st == nil {
		st = &State{}
	}
	p := &Plan{Headroom: o.Headroom, Capacity: c}
	planned := map[string]TopicPlan{}
	for _, tf := range f.Topics {
		tp := topicPlan(tf, c, st.Topic(tf.Topic).Partitions, o.Headroom)
		planned[tf.Topic] = tp
		p.Topics = append(p.Topics, tp)
	}
	for _, g := range st.Groups {
		if gp, ok := groupPlan(g, f, c, planned, o); ok {
			p.Groups = append(p.Groups, gp)
		}
	}
	var missing []string
	for name := range f.Groups {
		if _, ok := st.Group(name); !ok {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	for _, name := range missing {
		p.Notes = append(p.Notes, fmt.Sprintf("group %s is in the forecast but reads none of its topics on the cluster: not sized", name))
	}
	return p, nil
}

func topicPlan(tf TopicForecast, c Capacity, current int32, headroom float64) TopicPlan {
	tp := TopicPlan{
		Topic:                  tf.Topic,
		RecordsPerSec:          tf.RecordsPerSec,
		BytesPerSec:            tf.BytesPerSec,
		Headroom:               headroom,
		PartitionRecordsPerSec: c.PartitionRecordsPerSec(),
		PartitionBytesPerSec:   c.PartitionBytesPerSec(),
		CurrentPartitions:      current,
	}
	h := strconv.FormatFloat(headroom, 'f', 1, 64)
	tp.ByRecords = tf.RecordsPerSec * headroom / tp.PartitionRecordsPerSec
	need := max(1, ceil(tp.ByRecords))
	steps := []string{fmt.Sprintf("%s rec/s × %s headroom / %s rec/s per partition = %s → %d",
		fmtRate(tf.RecordsPerSec), h, fmtRate(tp.PartitionRecordsPerSec), fmtRatio(tp.ByRecords), ceil(tp.ByRecords))}
	if tp.PartitionBytesPerSec > 0 && tf.BytesPerSec > 0 {
		tp.ByBytes = tf.BytesPerSec * headroom / tp.PartitionBytesPerSec
		need = max(need, ceil(tp.ByBytes))
		steps = append(steps, fmt.Sprintf("%s/s × %s headroom / %s/s per partition = %s → %d",
			fmtBytes(tf.BytesPerSec), h, fmtBytes(tp.PartitionBytesPerSec), fmtRatio(tp.ByBytes), ceil(tp.ByBytes)))
	}
	tp.Needed = int32(need)
	tp.Partitions = roundToMultiple(tp.Needed, current)
	var last string
	switch {
	case current <= 0:
		tp.Action = ActionCreate
		last = fmt.Sprintf("need %d; topic missing: create it with %d", tp.Needed, tp.Partitions)
	case tp.Needed <= current:
		tp.Action = ActionKeep
		last = fmt.Sprintf("need %d ≤ current %d: keep %d", tp.Needed, current, current)
	default:
		tp.Action = ActionGrow
		last = fmt.Sprintf("need %d → rounded up to a multiple of %d = %d", tp.Needed, current, tp.Partitions)
	}
	tp.Arithmetic = strings.Join(append(steps, last), "; ")
	return tp
}

// roundToMultiple returns need rounded up to a multiple of current, and at
// least current; need itself (at least 1) when current is 0.
func roundToMultiple(need, current int32) int32 {
	need = max(need, 1)
	if current <= 0 {
		return need
	}
	if need <= current {
		return current
	}
	return (need + current - 1) / current * current
}

func groupPlan(g GroupState, f Forecast, c Capacity, planned map[string]TopicPlan, o Options) (GroupPlan, bool) {
	gp := GroupPlan{Group: g.Group, CurrentMembers: g.Members}
	var bytesPerSec float64
	for _, t := range g.Topics {
		tp, ok := planned[t]
		if !ok {
			continue
		}
		gp.Topics = append(gp.Topics, t)
		gp.RecordsPerSec += tp.RecordsPerSec
		bytesPerSec += tp.BytesPerSec
		gp.MaxUseful += int(tp.Partitions)
	}
	if len(gp.Topics) == 0 {
		return gp, false
	}
	consume := c.ConsumeRecordsPerSec
	if consume <= 0 {
		consume = c.PartitionRecordsPerSec()
	}
	gp.InstanceRecordsPerSec, gp.InstanceCapacity = consume, "consume capacity ("+c.Source+")"
	handler, ok := f.Groups[g.Group]
	if !ok && g.Dispatch {
		handler, ok = o.Handler, o.Handler.RecordsPerSec() > 0
	}
	byHandler := false
	if hr := handler.RecordsPerSec(); ok && hr > 0 && hr < consume {
		gp.InstanceRecordsPerSec, byHandler = hr, true
		gp.InstanceCapacity = fmt.Sprintf("handler: %d in flight / %s latency", handler.MaxInFlight, handler.HandlerLatency)
	}
	h := strconv.FormatFloat(o.Headroom, 'f', 1, 64)
	gp.Exact = gp.RecordsPerSec * o.Headroom / gp.InstanceRecordsPerSec
	need := max(1, ceil(gp.Exact))
	steps := fmt.Sprintf("%s rec/s × %s headroom / %s rec/s per instance (%s) = %s → %d",
		fmtRate(gp.RecordsPerSec), h, fmtRate(gp.InstanceRecordsPerSec), gp.InstanceCapacity, fmtRatio(gp.Exact), ceil(gp.Exact))
	if cb := c.ConsumeBytesPerSec; cb > 0 && bytesPerSec > 0 && !byHandler {
		byBytes := bytesPerSec * o.Headroom / cb
		if ceil(byBytes) > need {
			need = ceil(byBytes)
			steps += fmt.Sprintf("; by bytes %s/s × %s / %s/s = %s → %d", fmtBytes(bytesPerSec), h, fmtBytes(cb), fmtRatio(byBytes), need)
		}
	}
	gp.Needed = int(need)
	gp.Instances = gp.Needed
	if gp.Instances > gp.MaxUseful {
		gp.Instances, gp.Capped = gp.MaxUseful, true
		steps += fmt.Sprintf(" → capped at %d partitions = %d", gp.MaxUseful, gp.Instances)
		gp.Warning = fmt.Sprintf("%d instances handle %s rec/s, below the %s rec/s planned: add partitions or raise per-instance capacity (e.g. --max-in-flight)",
			gp.Instances, fmtRate(float64(gp.Instances)*gp.InstanceRecordsPerSec), fmtRate(gp.RecordsPerSec*o.Headroom))
	}
	gp.Arithmetic = steps
	return gp, true
}
