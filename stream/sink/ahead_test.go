package sink

import (
	"context"
	"testing"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
)

// decideFixture is a sink on a fresh broker and database, never run, and
// rec, a job of one user event (id eventID, scope k) at a given offset.
func decideFixture(t *testing.T, eventID string) (s *Sink, ch *analytics.Conn, k scopeKey, rec func(off int64) *job) {
	t.Helper()
	topics := stream.DefaultTopics()
	brokers := testenv.Kafka(t, topics.All()...)
	ch = testenv.ClickHouseConn(t)
	s, err := New(ch, WithClient(stream.ClientConfig{Brokers: brokers}))
	if err != nil {
		t.Fatal(err)
	}
	// Decide uses no Kafka: the client is closed at once, so that the
	// group's assignment (which drops the assigned partitions' scopes)
	// cannot land in the middle of a test.
	s.cl.Close()
	ev := &schemas.UserEvent{EventID: eventID, UserID: "u-1"}
	k = scopeKey{topics.UserEvents, 0}
	rec = func(off int64) *job {
		return &job{entries: []entry{{
			src: analytics.Source{Topic: topics.UserEvents, Partition: 0, Offset: off},
			rec: ev, table: analytics.TableUserEvents, scope: k.scope, inScope: true,
			hash: eventHash(ev.Kind(), ev.ID()), hash2: eventHash2(ev.Kind(), ev.ID()),
		}}}
	}
	return s, ch, k, rec
}

// TestProbeAheadScopeReloaded: a batch probed ahead whose scope is dropped
// and read again from ClickHouse before it is decided (a rebalance) is
// probed again in the new window, so the window holds the hash of the
// original it decides and a later copy of it is checked, not stored.
func TestProbeAheadScopeReloaded(t *testing.T) {
	s, _, k, rec := decideFixture(t, "01JDQ-probe-ahead")
	ctx := context.Background()
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

// TestDecideLookupFailureKeepsProbe: when the claims lookup fails, decide's
// retry reuses the probe it made (the scope's window is not dropped and read
// again, which at scale is the window's claims of every scope of the
// batch) and decides the same.
func TestDecideLookupFailureKeepsProbe(t *testing.T) {
	s, ch, k, rec := decideFixture(t, "01JDQ-lookup-fails")
	ctx := context.Background()
	if err := s.decideOnce(ctx, rec(0)); err != nil {
		t.Fatal(err)
	}
	w := s.dedup.scopes[k]
	// The next batch has a copy: its hash is in the window, so it is looked
	// up, and the lookup fails while the claims table is away.
	if err := ch.DB().Exec(ctx, "RENAME TABLE sink_dedup_claims TO sink_claims_away"); err != nil {
		t.Fatal(err)
	}
	b := rec(1)
	if err := s.decideOnce(ctx, b); err == nil {
		t.Fatal("decide: no error with the claims table away")
	}
	if err := ch.DB().Exec(ctx, "RENAME TABLE sink_claims_away TO sink_dedup_claims"); err != nil {
		t.Fatal(err)
	}
	if got := s.dedup.scopes[k]; got != w {
		t.Fatalf("the failed lookup dropped the scope's window (%p, was %p): the retry reads it again", got, w)
	}
	if err := s.decideOnce(ctx, b); err != nil {
		t.Fatal(err)
	}
	// ClickHouse holds no claim of the event (the first batch was not
	// written), so the copy is the original, its claim written.
	if len(b.entries) != 1 || !b.entries[0].claim || b.entries[0].table != analytics.TableUserEvents {
		t.Fatalf("decided %+v; want the record kept as the original, with its claim", b.entries)
	}
	if got := s.dedup.scopes[k]; got != w || !w.has(b.entries[0].hash) {
		t.Fatal("the retry replaced the window or lost the hash")
	}
}

// TestDecideOutOfScopeBeforeCopy: a record outside its scope's partitions
// (a producer that did not partition by murmur2 of the user id) followed in
// the same job by its copy on the right partition is stored once: the
// first is the original, the second its duplicate naming it, whether the
// job was decided at once or probed ahead first.
func TestDecideOutOfScopeBeforeCopy(t *testing.T) {
	for _, ahead := range []bool{false, true} {
		s, _, _, rec := decideFixture(t, "01JDQ-out-of-scope-first")
		foreign, copy := rec(7).entries[0], rec(3).entries[0]
		foreign.src.Partition, foreign.inScope = 5, false
		j := &job{entries: []entry{foreign, copy}}
		if ahead {
			s.probeAhead(j)
		}
		if err := s.decideOnce(context.Background(), j); err != nil {
			t.Fatal(err)
		}
		if len(j.entries) != 2 {
			t.Fatalf("ahead %v: %d entries decided, want 2", ahead, len(j.entries))
		}
		if len(j.probeWins) != 0 || j.probed {
			t.Errorf("ahead %v: the decided job still holds %d probed windows: a dropped window would stay in memory", ahead, len(j.probeWins))
		}
		orig, dup := j.entries[0], j.entries[1]
		if orig.table != analytics.TableUserEvents || !orig.claim {
			t.Errorf("ahead %v: the first record is not the original with its claim: table %s, claim %v", ahead, orig.table, orig.claim)
		}
		if dup.table != analytics.TableDuplicates || dup.dupOf != foreign.src || dup.claim {
			t.Errorf("ahead %v: the copy is not a duplicate of the first record: table %s, of %+v, claim %v", ahead, dup.table, dup.dupOf, dup.claim)
		}
	}
}
