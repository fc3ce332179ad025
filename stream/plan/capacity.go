package plan

import (
	"fmt"
	"strings"
)

// Where a capacity figure came from.
const (
	SourceProbe = "probe" // measured by Probe against the cluster
	SourceGiven = "given" // given by the operator (--partition-capacity), e.g. from live metrics
)

// Capacity is what one partition and one consumer instance sustain.
type Capacity struct {
	// ProduceRecordsPerSec and ProduceBytesPerSec are what one partition
	// takes in, with acks=all.
	ProduceRecordsPerSec float64 `json:"produce_records_per_sec"`
	ProduceBytesPerSec   float64 `json:"produce_bytes_per_sec"`
	// ConsumeRecordsPerSec and ConsumeBytesPerSec are what one consumer
	// instance reads from one partition.
	ConsumeRecordsPerSec float64 `json:"consume_records_per_sec"`
	ConsumeBytesPerSec   float64 `json:"consume_bytes_per_sec"`
	// RecordBytes is the record size the figures hold for.
	RecordBytes float64 `json:"record_bytes"`
	// Source is SourceProbe or SourceGiven; Detail says more (the probe
	// topic, duration and record count, or the flag).
	Source string `json:"source"`
	Detail string `json:"detail"`
}

// PartitionRecordsPerSec is the records/s one partition sustains end to
// end: the lower of what it takes in and what one consumer reads from it.
func (c Capacity) PartitionRecordsPerSec() float64 {
	return minPositive(c.ProduceRecordsPerSec, c.ConsumeRecordsPerSec)
}

// PartitionBytesPerSec is PartitionRecordsPerSec in bytes, or 0 when no
// byte figure is known.
func (c Capacity) PartitionBytesPerSec() float64 {
	return minPositive(c.ProduceBytesPerSec, c.ConsumeBytesPerSec)
}

// minPositive returns the smaller of the positive values among a and b,
// or 0 when neither is.
func minPositive(a, b float64) float64 {
	switch {
	case a <= 0:
		return max(b, 0)
	case b <= 0:
		return a
	}
	return min(a, b)
}

// Valid reports an error when c cannot size anything.
func (c Capacity) Valid() error {
	if c.PartitionRecordsPerSec() <= 0 {
		return fmt.Errorf("capacity: no records/s per partition (measure it with a probe or give --partition-capacity)")
	}
	return nil
}

// ParseCapacity reads a capacity given by the operator, e.g. from live
// metrics, in the --forecast rate syntax: "9500/s" (records/s) or
// "9500/s@40MB/s" (records/s and bytes/s). produce is the per-partition
// figure; consume, when not empty, is one consumer instance's (default: the
// same as produce). Errors wrap ErrForecast.
func ParseCapacity(produce, consume string) (Capacity, error) {
	pr, pb, err := parseCapacity(produce)
	if err != nil {
		return Capacity{}, fmt.Errorf("%w: --partition-capacity %q: %v", ErrForecast, produce, err)
	}
	cr, cb := pr, pb
	if strings.TrimSpace(consume) != "" {
		if cr, cb, err = parseCapacity(consume); err != nil {
			return Capacity{}, fmt.Errorf("%w: --consumer-capacity %q: %v", ErrForecast, consume, err)
		}
	}
	c := Capacity{
		ProduceRecordsPerSec: pr, ProduceBytesPerSec: pb,
		ConsumeRecordsPerSec: cr, ConsumeBytesPerSec: cb,
		Source: SourceGiven,
		Detail: "--partition-capacity " + produce,
	}
	if pb > 0 {
		c.RecordBytes = pb / pr
	}
	if strings.TrimSpace(consume) != "" {
		c.Detail += ", --consumer-capacity " + consume
	}
	return c, nil
}

func parseCapacity(s string) (recs, bytes float64, err error) {
	rate, br, hasBytes := strings.Cut(s, "@")
	rate, _ = perSecond(rate)
	if recs, err = parseCount(rate); err != nil {
		return 0, 0, fmt.Errorf("rate %v; want RATE/s[@BYTES/s], e.g. 9500/s or 9500/s@40MB/s", err)
	}
	if recs <= 0 {
		return 0, 0, fmt.Errorf("rate must be above 0 records/s")
	}
	if hasBytes {
		b, isRate := perSecond(br)
		if !isRate {
			return 0, 0, fmt.Errorf("after @ want a byte rate such as 40MB/s")
		}
		if bytes, err = parseBytes(b); err != nil || bytes <= 0 {
			return 0, 0, fmt.Errorf("after @ want a byte rate above 0 such as 40MB/s")
		}
	}
	return recs, bytes, nil
}
