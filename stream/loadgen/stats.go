package loadgen

import (
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/surgeio/surge/schemas"
)

// Stats summarise a finished run. Apart from Records and Failed they count
// acked records only, so they can be checked exactly against what reached
// Kafka and, downstream, ClickHouse.
type Stats struct {
	Seed    int64 // the seed the run used (Config.Seed, or the one picked for 0)
	Records int64 // records handed to the sender
	Acked   int64
	Failed  int64

	ByKind       map[schemas.Kind]int64      // acked records by kind
	EventsByType map[schemas.EventType]int64 // acked user events by type
	Campaigns    map[string]*CampaignStats   // every configured campaign, acked orders only

	Elapsed time.Duration // from the start of Run to the last record done

	// Ack latency (hand-off to ack) over the whole run; each is the upper
	// edge of its histogram bucket, at most 6.25% above the true value.
	LatencyP50, LatencyP99, LatencyP999 time.Duration
}

// CampaignStats are one campaign's acked orders.
type CampaignStats struct {
	Orders       int64
	GMV          int64 // sum of order amounts, minor units of Currency
	Currency     string
	Buyers       int64 // distinct users with at least one acked order
	CouponOrders int64 // acked orders carrying a coupon (only with a Config.Wallet)
}

// counters are the live tallies, updated from the sender's done callbacks.
type counters struct {
	sent, acked, failed atomic.Int64
	kinds               [numKinds]atomic.Int64
	eventTypes          [numEventTypes]atomic.Int64
	camps               []campCounters
	latency             histogram
}

type campCounters struct {
	orders, gmv, coupons atomic.Int64
	buyers               []atomic.Uint64 // bit per user
}

func newCounters(campaigns, users int) *counters {
	c := &counters{camps: make([]campCounters, campaigns)}
	for i := range c.camps {
		c.camps[i].buyers = make([]atomic.Uint64, (users+63)/64)
	}
	return c
}

// done accounts for one record's outcome.
func (c *counters) done(m *recMeta, latency time.Duration, err error) {
	if err != nil {
		c.failed.Add(1)
		return
	}
	c.latency.record(latency)
	c.kinds[m.kind].Add(1)
	switch m.kind {
	case kiUserEvent:
		c.eventTypes[m.etype].Add(1)
	case kiOrder:
		cc := &c.camps[m.camp]
		cc.orders.Add(1)
		cc.gmv.Add(m.amount)
		if m.coupon {
			cc.coupons.Add(1)
		}
		cc.buyers[m.user>>6].Or(1 << (m.user & 63))
	}
	// Acked last: a reader that sees the count sees the details too.
	c.acked.Add(1)
}

func (c *counters) stats(seed int64, cats []catalog, elapsed time.Duration) *Stats {
	s := &Stats{
		Seed:         seed,
		Records:      c.sent.Load(),
		Acked:        c.acked.Load(),
		Failed:       c.failed.Load(),
		ByKind:       make(map[schemas.Kind]int64),
		EventsByType: make(map[schemas.EventType]int64),
		Campaigns:    make(map[string]*CampaignStats, len(cats)),
		Elapsed:      elapsed,
	}
	for i := range c.kinds {
		if v := c.kinds[i].Load(); v > 0 {
			s.ByKind[kindNames[i]] = v
		}
	}
	for i := range c.eventTypes {
		if v := c.eventTypes[i].Load(); v > 0 {
			s.EventsByType[eventTypeNames[i]] = v
		}
	}
	for i := range c.camps {
		cc := &c.camps[i]
		var buyers int64
		for j := range cc.buyers {
			buyers += int64(bits.OnesCount64(cc.buyers[j].Load()))
		}
		s.Campaigns[cats[i].id] = &CampaignStats{
			Orders:       cc.orders.Load(),
			GMV:          cc.gmv.Load(),
			Currency:     cats[i].currency,
			Buyers:       buyers,
			CouponOrders: cc.coupons.Load(),
		}
	}
	var snap snapshot
	c.latency.snapshot(&snap)
	q := snap.quantiles(0.50, 0.99, 0.999)
	s.LatencyP50, s.LatencyP99, s.LatencyP999 = q[0], q[1], q[2]
	return s
}
