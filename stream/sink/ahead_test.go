package sink

import (
	"context"
	"testing"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
)

// TestProbeAheadScopeReloaded: a batch probed ahead whose scope is dropped
// and read again from ClickHouse before it is decided (a rebalance) is
// probed again in the new window, so the window holds the hash of the
// original it decides and a later copy of it is checked, not stored.
func TestProbeAheadScopeReloaded(t *testing.T) {
	topics := stream.DefaultTopics()
	brokers := testenv.Kafka(t, topics.All()...)
	ch := testenv.ClickHouseConn(t)
	s, err := New(ch, WithClient(stream.ClientConfig{Brokers: brokers}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.cl.Close()
	ctx := context.Background()
	ev := &schemas.UserEvent{EventID: "01JDQ-probe-ahead", UserID: "u-1"}
	k := scopeKey{topics.UserEvents, 0}
	rec := func(off int64) *job {
		return &job{entries: []entry{{
			src: analytics.Source{Topic: topics.UserEvents, Partition: 0, Offset: off},
			rec: ev, table: analytics.TableUserEvents, scope: k.scope, inScope: true,
			hash: eventHash(ev.Kind(), ev.ID()), hash2: eventHash2(ev.Kind(), ev.ID()),
		}}}
	}
	// A batch with the event, decided (its write is not needed here).
	if err := s.decideOnce(ctx, rec(0)); err != nil {
		t.Fatal(err)
	}
	// The next batch, with a copy, probed ahead: the hash is in the window.
	b := rec(1)
	s.probeAhead(b)
	if !b.probed || !b.entries[0].seen {
		t.Fatalf("probe ahead: probed %v, seen %v; want both", b.probed, b.entries[0].seen)
	}
	// A rebalance drops the scope; decide reads it again from ClickHouse,
	// which holds no claim of the event (the first batch was not written).
	s.dedup.mu.Lock()
	delete(s.dedup.scopes, k)
	s.dedup.mu.Unlock()
	if err := s.decideOnce(ctx, b); err != nil {
		t.Fatal(err)
	}
	if len(b.entries) != 1 || !b.entries[0].claim {
		t.Fatalf("the copy of an event ClickHouse does not hold must be decided the original (claim written): %+v", b.entries)
	}
	w := s.dedup.scopes[k]
	if w == nil || !w.has(b.entries[0].hash) {
		t.Fatal("the reloaded window lacks the hash of the original just decided: a later copy would be stored again")
	}
}
