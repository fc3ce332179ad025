// Package health reads the pipeline's health for the campaign page
// (analytics/web): the consumer groups' lag in records and seconds with
// their status (stream/lag), the rate records arrive on the input topics,
// the records on the dead-letter topic, and the raw tables' newest insert
// and rejects. It only reads: no group is joined and nothing is committed.
package health

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/analytics/web"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/lag"
)

// Probe reads the pipeline's health. Its Read is safe for concurrent use
// (calls are serialized); the page calls it at most once per interval.
type Probe struct {
	ch        *analytics.Conn
	cl        *kgo.Client
	adm       *kadm.Client
	mon       *lag.Monitor
	topics    stream.Topics
	sinkGroup string

	mu      sync.Mutex
	prevAt  time.Time
	prevEnd int64
}

// New opens a Kafka client for a probe of the pipeline whose topics are
// topics, whose sink joins sinkGroup and writes to ch. Close releases it.
func New(ch *analytics.Conn, kc stream.ClientConfig, topics stream.Topics, sinkGroup string) (*Probe, error) {
	cl, err := kgo.NewClient(kc.Opts()...)
	if err != nil {
		return nil, fmt.Errorf("create kafka client: %w", err)
	}
	return &Probe{ch: ch, cl: cl, adm: kadm.NewClient(cl), mon: lag.New(cl), topics: topics, sinkGroup: sinkGroup}, nil
}

// Close releases the probe's Kafka client.
func (p *Probe) Close() { p.cl.Close() }

// Read reads the health now. Parts that cannot be read are named in the
// result's Errors; Read itself does not fail. The events/s in are measured
// from the previous Read (0 at the first).
func (p *Probe) Read(ctx context.Context) (*web.Pipeline, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := &web.Pipeline{LastInsertSeconds: -1, Groups: []web.GroupHealth{}}
	fail := func(what string, err error) { out.Errors = append(out.Errors, what+": "+err.Error()) }

	if snap, err := p.mon.Sample(ctx); err != nil {
		fail("consumer group lag", err)
	} else {
		for _, g := range snap.Groups {
			out.Groups = append(out.Groups, web.GroupHealth{Group: g.Group, Status: string(g.Status), Reason: g.Reason,
				Members: g.Members, LagRecords: g.LagRecords, LagSeconds: g.MaxLagSeconds, Rate: g.Rate})
			if g.Group == p.sinkGroup {
				out.SinkLagSeconds = max(g.MaxLagSeconds, 0)
			}
		}
	}

	inputs := []string{p.topics.Orders, p.topics.OrdersPriority, p.topics.UserEvents}
	now := time.Now()
	if ends, err := p.adm.ListEndOffsets(ctx, append(inputs, p.topics.DeadLetters)...); err != nil {
		fail("topic offsets", err)
	} else {
		var in int64
		for _, t := range inputs {
			ends.Each(func(o kadm.ListedOffset) {
				if o.Topic == t && o.Err == nil {
					in += o.Offset
				}
			})
		}
		if !p.prevAt.IsZero() && in >= p.prevEnd {
			out.EventsPerSecond = float64(in-p.prevEnd) / now.Sub(p.prevAt).Seconds()
		}
		p.prevAt, p.prevEnd = now, in
		if starts, err := p.adm.ListStartOffsets(ctx, p.topics.DeadLetters); err != nil {
			fail("dead-letter offsets", err)
		} else {
			ends.Each(func(o kadm.ListedOffset) {
				if o.Topic != p.topics.DeadLetters || o.Err != nil {
					return
				}
				if s, ok := starts.Lookup(o.Topic, o.Partition); ok && s.Err == nil {
					out.DeadLetters += o.Offset - s.Offset
				}
			})
		}
	}

	if fresh, err := p.ch.Freshness(ctx); err != nil {
		fail("ClickHouse freshness", err)
	} else {
		var last time.Time
		for _, f := range fresh {
			if f.LatestIngest.After(last) {
				last = f.LatestIngest
			}
			if f.Table == string(analytics.TableSinkRejects) {
				out.SinkRejects = f.Rows
			}
		}
		if !last.IsZero() {
			out.LastInsertSeconds = max(time.Since(last).Seconds(), 0)
		}
	}
	return out, nil
}
