package sink

import (
	"context"
	"time"

	"github.com/surgeio/surge/analytics"
)

// DefaultRollupSettle is how long after a recovery the sink waits before it
// repairs the rollups (WithRollupRepair).
const DefaultRollupSettle = time.Minute

// rollupLookback is how far back from a recovery the repair looks for raw
// rows whose views may not have run: the rows of the batches in flight
// when the crash happened are well within it.
const rollupLookback = time.Hour

// WithRollupRepair sets how long after a recovery from a failed write the
// sink repairs the rollups (analytics.RepairRollups over the raw rows
// ingested in the hour before). A crash of ClickHouse between a raw part
// and its materialized view's part (or, on a cluster, a view's INSERT that
// fails after the raw part committed) leaves a rollup short, and the
// INSERT that was running fails: the sink's retry of it is the signal. A
// kill of the sink alone cannot split them (the server completes or
// aborts the INSERT as a whole). Only the instance that owns partition 0
// of the orders topic repairs, so instances of a group do not repair the
// same minutes at once. 0 turns the repair off. The default is
// DefaultRollupSettle; the wait lets every INSERT whose view has yet to
// run finish first.
func WithRollupRepair(settle time.Duration) Opt {
	return func(cfg *config) { cfg.repairSettle, cfg.repairSet = settle, true }
}

// repairDue asks for a rollup repair after the settle time, from now.
func (s *Sink) repairDue() {
	if s.cfg.repairSettle <= 0 {
		return
	}
	select {
	case s.repairs <- time.Now():
	default: // one is already due; it covers this one
	}
}

// repairLoop runs the repairs repairDue asks for, until ctx is done.
func (s *Sink) repairLoop(ctx context.Context) {
	for {
		var at time.Time
		select {
		case <-ctx.Done():
			return
		case at = <-s.repairs:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(time.Until(at.Add(s.cfg.repairSettle)), s.cfg.repairSettle/2)):
		}
		s.ownMu.RLock()
		_, owner := s.parts[tp{topic: s.cfg.topics.Orders, partition: 0}]
		s.ownMu.RUnlock()
		if !owner {
			continue
		}
		fixes, err := s.ch.RepairRollups(ctx, analytics.RepairOpts{
			Since: at.Add(-rollupLookback), Settle: s.cfg.repairSettle})
		if err != nil {
			if ctx.Err() == nil {
				s.cfg.logger.Warn("repair rollups after recovery failed; run surge migrate --repair", "err", err)
			}
			continue
		}
		fixed, unsettled := 0, 0
		for _, f := range fixes {
			if f.Fixed {
				fixed++
			}
			if f.Unsettled {
				unsettled++
			}
		}
		if fixed > 0 {
			s.cfg.logger.Info("repaired rollups a crash left short of the raw tables", "minutes", fixed)
		}
		if unsettled > 0 {
			// Minutes still receiving rows: look again after they settle.
			select {
			case s.repairs <- at:
			default: // one is already due
			}
		}
	}
}
