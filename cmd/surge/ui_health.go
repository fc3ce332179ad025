package main

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
	"github.com/surgeio/surge/stream/sink"
	"github.com/surgeio/surge/stream/triggers/rules"
)

// pipelineProbe reads the pipeline's health for the campaign page: the
// consumer groups' lag (stream/lag), the input topics' growth, the
// dead-letter topic and the raw tables' newest insert. It reads only: no
// group is joined and nothing is committed.
type pipelineProbe struct {
	ch     *analytics.Conn
	cl     *kgo.Client
	adm    *kadm.Client
	mon    *lag.Monitor
	topics stream.Topics

	mu      sync.Mutex
	prevAt  time.Time
	prevEnd int64
}

// newPipelineProbe opens a Kafka client for the probe; close releases it.
func newPipelineProbe(ch *analytics.Conn, kc stream.ClientConfig) (*pipelineProbe, func(), error) {
	cl, err := kgo.NewClient(kc.Opts()...)
	if err != nil {
		return nil, nil, fmt.Errorf("create kafka client: %w", err)
	}
	return &pipelineProbe{ch: ch, cl: cl, adm: kadm.NewClient(cl), mon: lag.New(cl), topics: stream.DefaultTopics()},
		cl.Close, nil
}

func (p *pipelineProbe) probe(ctx context.Context) (*web.Pipeline, error) {
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
			if g.Group == sink.DefaultGroup {
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

// ruleBudgets lists the enabled rules' budgets for the page.
func ruleBudgets(set *rules.Set) []web.Budget {
	var out []web.Budget
	for _, r := range set.Enabled() {
		b := web.Budget{Rule: r.ID, Coupons: r.Budget.Coupons, Value: r.Budget.Value, Currency: r.Coupon.Currency}
		if r.Campaign != nil {
			b.Campaign = r.Campaign.ID
		}
		out = append(out, b)
	}
	return out
}
