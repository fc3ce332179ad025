package dispatch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// commitLoop commits done offsets every commit interval.
func (d *Dispatcher) commitLoop(ctx context.Context) {
	tick := time.NewTicker(d.cfg.commitEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := d.commit(ctx, nil); err != nil && ctx.Err() == nil {
				d.eng.log.Warn("commit offsets", "err", err)
			}
			d.peekEnds(ctx)
		}
	}
}

// commit commits the done watermark of the given source partitions and
// their retry partitions (all owned ones when only is nil), each with the
// offsets done above it in its metadata (see commitmeta.go).
func (d *Dispatcher) commit(ctx context.Context, only map[tp]bool) error {
	d.commitMu.Lock()
	defer d.commitMu.Unlock()
	type pending struct {
		p    *part
		at   int64
		meta string
	}
	offsets := map[string]map[int32]kgo.EpochOffset{}
	metas := map[tp]string{}
	var parts []pending
	var lag int64
	noMeta := d.noMeta.Load()
	d.eng.do(func() {
		for k, p := range d.eng.parts {
			if p.dropped {
				continue
			}
			src := p
			if p.retry {
				src = p.peer
			}
			if p.hwm >= 0 && p.committed >= 0 {
				lag += p.hwm - p.committed
			}
			if only != nil && !only[src.tp] {
				continue
			}
			if src.loading || p.loading {
				continue // held records are not tracked yet
			}
			w := p.win.watermark()
			if w < 0 {
				continue
			}
			var meta string
			if !noMeta {
				meta = p.commitMeta(w)
			}
			if w == p.committed && meta == p.meta {
				continue
			}
			if offsets[k.topic] == nil {
				offsets[k.topic] = map[int32]kgo.EpochOffset{}
			}
			offsets[k.topic][k.partition] = kgo.EpochOffset{Epoch: -1, Offset: w}
			metas[k] = meta
			parts = append(parts, pending{p, w, meta})
		}
		d.eng.m.commitLag.Set(float64(lag))
	})
	if len(offsets) == 0 {
		return nil
	}
	ctx = kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
		for i := range req.Topics {
			rt := &req.Topics[i]
			for j := range rt.Partitions {
				m := metas[tp{rt.Topic, rt.Partitions[j].Partition}]
				rt.Partitions[j].Metadata = &m
			}
		}
		return nil
	})
	// Only partitions the broker answered without error count as
	// committed: a commit that was not sent (its context cancelled while
	// kgo waited out a rebalance) answers with an error, and marking it
	// committed would make the commit on revoke or shutdown skip it.
	var cerr error
	acked := map[tp]bool{}
	d.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					if errors.Is(err, kerr.OffsetMetadataTooLarge) {
						// The broker takes less metadata than metaMaxBytes:
						// commit offsets alone from now on.
						d.noMeta.Store(true)
					}
					cerr = fmt.Errorf("commit %s[%d]: %w", t.Topic, p.Partition, err)
					continue
				}
				acked[tp{t.Topic, p.Partition}] = true
			}
		}
	})
	if len(acked) == 0 {
		if cerr == nil {
			cerr = errors.New("commit answered without partitions")
		}
		return cerr
	}
	d.eng.do(func() {
		for _, c := range parts {
			if acked[c.p.tp] {
				c.p.committed, c.p.meta = c.at, c.meta
			}
		}
		d.eng.m.commits.Inc()
	})
	return cerr
}
