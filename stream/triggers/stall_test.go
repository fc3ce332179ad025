package triggers_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream/triggers"
	"github.com/surgeio/surge/stream/triggers/rules"
)

// TestStallDoesNotMakeBacklogLate is the regression test for coupons lost
// after a restart: a consumer that stalls for longer than the idle timeout
// (a long transaction, a restore, a slow machine) while one input still has
// a backlog must not treat that input as idle. Before the fix the first
// input read after the stall moved the watermark on its own, and the other
// input's backlog (its own events strictly in order) was dead-lettered as
// late, so its coupons were missing.
func TestStallDoesNotMakeBacklogLate(t *testing.T) {
	brokers := kafka(t, 1)
	_, set := writeRules(t, testRules)
	base := time.Now().Add(-time.Hour)
	// Orders and user events interleaved 10ms apart over 10s of event
	// time: every order reaches the spend threshold, every user's search
	// is a first search.
	var recs []*kgo.Record
	for i := range 2000 {
		user := fmt.Sprintf("u-%04d", i/2)
		ts := base.Add(time.Duration(i) * 5 * time.Millisecond)
		var r schemas.Record
		if i%2 == 0 {
			r = &schemas.Order{EventID: schemas.NewEventID(), OrderID: fmt.Sprintf("o-%d", i), UserID: user,
				Items: []schemas.Item{{SKU: "sku-1", Qty: 1, UnitPrice: 6000}}, Amount: 6000, Currency: "USD",
				Priority: schemas.PriorityNormal, CreatedAt: ts}
		} else {
			r = &schemas.UserEvent{EventID: schemas.NewEventID(), UserID: user, SessionID: "s", Type: schemas.EventSearch, TS: ts}
		}
		v, err := schemas.Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: topics.Route(r), Key: []byte(user), Value: v})
	}
	produce(t, brokers, recs)
	want := expected(t, set, recs, 1)

	// Small transactions, a short idle timeout, and a consumer that stalls
	// for three idle timeouts after each of its first commits with coupons.
	const idle = 150 * time.Millisecond
	var (
		mu     sync.Mutex
		stalls int
		last   string
	)
	r, stop := runRunner(t, brokers, set, triggers.WithIdleTimeout(idle), triggers.WithMaxPollRecords(150),
		triggers.WithOnIssue(func(is rules.Issue) {
			mu.Lock()
			defer mu.Unlock()
			// One stall per commit: coupons of one commit come in a row,
			// and a commit holds at most 150 records, 75 users.
			if u := is.User[:len(is.User)-2]; u != last && stalls < 5 {
				last = u
				stalls++
				time.Sleep(3 * idle)
			}
		}))
	got := coupons(t, brokers, len(want), 2*time.Second, 60*time.Second)
	stop()
	checkSet(t, got, want)
	if st := r.Stats(); st.Late != 0 {
		t.Errorf("got %d late events after consumer stalls, want 0 (no input was late)", st.Late)
	}
}
