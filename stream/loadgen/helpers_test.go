package loadgen

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/surgeio/surge/schemas"
)

// recorder is a Sender that keeps every record it acks, in hand-off order.
// With failEvery > 0 it fails every failEvery-th record instead.
type recorder struct {
	mu        sync.Mutex
	failEvery int
	n         int
	acked     []schemas.Record
	failed    []schemas.Record
}

var errInjected = errors.New("injected failure")

func (r *recorder) send(_ context.Context, rec schemas.Record, done func(error)) {
	r.mu.Lock()
	r.n++
	fail := r.failEvery > 0 && r.n%r.failEvery == 0
	if fail {
		r.failed = append(r.failed, rec)
	} else {
		r.acked = append(r.acked, rec)
	}
	r.mu.Unlock()
	if fail {
		done(errInjected)
	} else {
		done(nil)
	}
}

// generate runs a generator over cfg with a recorder and returns both.
func generate(t *testing.T, cfg Config) (*recorder, *Stats) {
	t.Helper()
	rec := &recorder{}
	g, err := New(cfg, rec.send)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	st, err := g.Run(context.Background())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rec, st
}

// want is the stats a list of acked records implies.
func expectedStats(acked []schemas.Record, campaigns []Campaign) (byKind map[schemas.Kind]int64, byType map[schemas.EventType]int64, camps map[string]CampaignStats) {
	byKind = map[schemas.Kind]int64{}
	byType = map[schemas.EventType]int64{}
	camps = map[string]CampaignStats{}
	for _, c := range campaigns {
		camps[c.ID] = CampaignStats{Currency: c.Currency}
	}
	buyers := map[string]map[string]bool{}
	for _, r := range acked {
		byKind[r.Kind()]++
		switch v := r.(type) {
		case *schemas.UserEvent:
			byType[v.Type]++
		case *schemas.Order:
			cs := camps[v.CampaignID]
			cs.Orders++
			cs.GMV += v.Amount
			if v.CouponID != "" {
				cs.CouponOrders++
			}
			if buyers[v.CampaignID] == nil {
				buyers[v.CampaignID] = map[string]bool{}
			}
			buyers[v.CampaignID][v.UserID] = true
			camps[v.CampaignID] = cs
		}
	}
	for id, b := range buyers {
		cs := camps[id]
		cs.Buyers = int64(len(b))
		camps[id] = cs
	}
	return byKind, byType, camps
}

// checkStats compares st with what the acked records imply.
func checkStats(t *testing.T, st *Stats, acked []schemas.Record, campaigns []Campaign) {
	t.Helper()
	byKind, byType, camps := expectedStats(acked, campaigns)
	if got, want := st.Acked, int64(len(acked)); got != want {
		t.Errorf("Stats.Acked = %d, want %d", got, want)
	}
	if got, want := len(st.ByKind), len(byKind); got != want {
		t.Errorf("len(Stats.ByKind) = %d, want %d (%v vs %v)", got, want, st.ByKind, byKind)
	}
	for k, want := range byKind {
		if got := st.ByKind[k]; got != want {
			t.Errorf("Stats.ByKind[%s] = %d, want %d", k, got, want)
		}
	}
	if got, want := len(st.EventsByType), len(byType); got != want {
		t.Errorf("len(Stats.EventsByType) = %d, want %d (%v vs %v)", got, want, st.EventsByType, byType)
	}
	for k, want := range byType {
		if got := st.EventsByType[k]; got != want {
			t.Errorf("Stats.EventsByType[%s] = %d, want %d", k, got, want)
		}
	}
	if got, want := len(st.Campaigns), len(camps); got != want {
		t.Errorf("len(Stats.Campaigns) = %d, want %d", got, want)
	}
	for id, want := range camps {
		got := st.Campaigns[id]
		if got == nil {
			t.Errorf("Stats.Campaigns[%s] missing", id)
			continue
		}
		if *got != want {
			t.Errorf("Stats.Campaigns[%s] = %+v, want %+v", id, *got, want)
		}
	}
}
