package lag

import (
	"fmt"
	"time"
)

// Status is a group's or a partition's health over the window. See the
// package documentation for the rules.
type Status string

// The statuses, from best to worst.
const (
	StatusOK      Status = "ok"
	StatusUnknown Status = "unknown"
	StatusLagging Status = "lagging"
	StatusStalled Status = "stalled"
	StatusStopped Status = "stopped"
)

// Statuses lists every status from best to worst.
var Statuses = []Status{StatusOK, StatusUnknown, StatusLagging, StatusStalled, StatusStopped}

// severity orders statuses: a group takes its worst partition's status.
func (s Status) severity() int {
	for i, x := range Statuses {
		if x == s {
			return i
		}
	}
	return 0
}

// ParseStatus returns the status named s.
func ParseStatus(s string) (Status, error) {
	for _, x := range Statuses {
		if string(x) == s {
			return x, nil
		}
	}
	return "", fmt.Errorf("unknown lag status %q: want ok, unknown, lagging, stalled or stopped", s)
}

// Snapshot is the result of one Sample.
type Snapshot struct {
	// Time is when the sample was taken; lag seconds are measured from it.
	Time time.Time `json:"time"`
	// Groups are sorted by name.
	Groups []GroupLag `json:"groups"`
	// Probed counts the partitions whose oldest unconsumed record was
	// fetched from the brokers in this sample; the others came from the
	// cache or needed none (no lag).
	Probed int `json:"probed"`
}

// Group returns the named group's lag and whether the snapshot has it.
func (s Snapshot) Group(name string) (GroupLag, bool) {
	for _, g := range s.Groups {
		if g.Group == name {
			return g, true
		}
	}
	return GroupLag{}, false
}

// GroupLag is one consumer group's lag and status.
type GroupLag struct {
	Group string `json:"group"`
	// State is the broker's group state: Stable, Empty,
	// PreparingRebalance, CompletingRebalance or Dead.
	State   string `json:"state"`
	Members int    `json:"members"`
	Status  Status `json:"status"`
	// Reason explains Status in a sentence, naming the partition that
	// decided it.
	Reason string `json:"reason,omitempty"`
	// LagRecords is the sum of the partitions' lag.
	LagRecords int64 `json:"lag_records"`
	// MaxLagSeconds is the largest lag in seconds of the partitions, that
	// is the age of the group's oldest unconsumed record.
	MaxLagSeconds float64 `json:"max_lag_seconds"`
	// Rate is the records consumed per second over the window, summed
	// over the partitions.
	Rate float64 `json:"rate"`
	// Samples is how many samples the window holds (at most the window
	// size).
	Samples int `json:"samples"`
	// Partitions are sorted by topic, then partition.
	Partitions []PartitionLag `json:"partitions"`
	// Err is why the group could not be described or its offsets fetched;
	// the other fields are then empty and Status is unknown.
	Err string `json:"error,omitempty"`
}

// TopicRate returns the group's consumption rate on topic, records/s.
func (g GroupLag) TopicRate(topic string) float64 {
	var r float64
	for _, p := range g.Partitions {
		if p.Topic == topic {
			r += p.Rate
		}
	}
	return r
}

// Topics returns the topics of the group's partitions in order.
func (g GroupLag) Topics() []string {
	var ts []string
	for _, p := range g.Partitions {
		if len(ts) == 0 || ts[len(ts)-1] != p.Topic {
			ts = append(ts, p.Topic)
		}
	}
	return ts
}

// Partition returns the group's lag on one partition and whether it has it.
func (g GroupLag) Partition(topic string, partition int32) (PartitionLag, bool) {
	for _, p := range g.Partitions {
		if p.Topic == topic && p.Partition == partition {
			return p, true
		}
	}
	return PartitionLag{}, false
}

// PartitionLag is a group's lag on one partition.
type PartitionLag struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Committed is the group's committed offset, -1 when it has none.
	Committed int64 `json:"committed"`
	// Start is the log start offset; End is the last stable offset, the
	// end a read_committed consumer reads up to.
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	// BelowStart is set when Committed is below Start: the records in
	// between were deleted and the lag counts from Start.
	BelowStart bool `json:"below_start,omitempty"`
	// LagRecords is End minus the position (Committed, or Start when there
	// is no commit or it is below Start), or 0 when nothing consumable is
	// left before End; -1 when the offsets could not be read (Err says
	// why).
	LagRecords int64 `json:"lag_records"`
	// LagSeconds is the sample time minus Oldest, 0 with no lag, -1 when
	// the oldest unconsumed record could not be read (Err says why).
	LagSeconds float64 `json:"lag_seconds"`
	// Oldest is the timestamp of the oldest unconsumed record, nil with no
	// lag or when it could not be read.
	Oldest *time.Time `json:"oldest,omitempty"`
	// Rate is the records consumed per second over the window.
	Rate float64 `json:"rate"`
	// Status is the partition's status; the group's is the worst of them.
	Status Status `json:"status"`
	// Member is the client id of the member assigned the partition, if
	// any.
	Member string `json:"member,omitempty"`
	// Err is why the partition's offsets or oldest record could not be
	// read.
	Err string `json:"error,omitempty"`
}
