package triggers_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/control"
	"github.com/surgeio/surge/stream/triggers"
	"github.com/surgeio/surge/stream/triggers/rules"
)

// everyView issues a coupon for every page view: the coupons tell which
// events were evaluated, and when.
const everyView = `lateness: 1m
campaigns:
  - {id: c, timezone: UTC, start: "2020-01-01", end: "2030-01-01"}
rules:
  - {id: view, campaign: c, kind: count, events: [page_view], count: 1, within: 1h, cap: 1000, coupon: {value: 1, currency: USD, expires: 1h}}
`

// TestResizeKeepsUserOrder grows user-events from 8 to 32 partitions while
// a stream.Producer writes page views at a steady rate and the triggers
// run. Every event must be evaluated (one coupon each), and a user's
// events must be committed in their order: a coupon of a user's later
// event never commits in an earlier transaction than one of the user's
// earlier events, though the user moved to a new partition mid-stream.
func TestResizeKeepsUserOrder(t *testing.T) {
	brokers := kafka(t, 8)
	_, set := writeRules(t, everyView)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	type issued struct{ seq, txn int }
	var mu sync.Mutex
	got := map[string][]issued{} // user -> coupons in commit order
	var runner atomic.Pointer[triggers.Runner]
	r, _ := runRunner(t, brokers, set, triggers.WithOnIssue(func(is rules.Issue) {
		user, seq := userSeq(is.Trigger)
		txn := -1
		if r := runner.Load(); r != nil {
			txn = int(r.Stats().Commits) // the same for every coupon of one transaction
		}
		mu.Lock()
		got[user] = append(got[user], issued{seq, txn})
		mu.Unlock()
	}))
	runner.Store(r)

	p, err := stream.NewProducer(stream.WithBrokers(brokers...), stream.WithLinger(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	joinResizes(t, p)
	const users, perUser = 64, 30
	var wg sync.WaitGroup
	errs := make(chan error, users*perUser)
	half := make(chan struct{})
	go func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for seq := range perUser {
			if seq == perUser/2 {
				close(half)
			}
			for u := range users {
				<-tick.C
				user := fmt.Sprintf("u%03d", u)
				ev := &schemas.UserEvent{EventID: fmt.Sprintf("ev-%s-%d", user, seq), UserID: user, SessionID: "s",
					Type: schemas.EventPageView, SKU: "sku-1", TS: time.Now().UTC()}
				wg.Add(1)
				p.ProduceAsync(ctx, ev, func(_ stream.Ack, err error) {
					defer wg.Done()
					if err != nil {
						errs <- err
					}
				})
			}
		}
	}()
	<-half
	z, err := control.NewResizer(ctx, "", stream.ClientConfig{Brokers: brokers}.Opts(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	plan, err := z.Plan(ctx, topics.UserEvents, 32, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	if err := z.Apply(ctx, plan, 10*time.Second, nil); err != nil {
		t.Fatalf("apply: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := 0
		for _, is := range got {
			n += len(is)
		}
		mu.Unlock()
		if n >= users*perUser || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("produce: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	moved := 0
	for u := range users {
		user := fmt.Sprintf("u%03d", u)
		seen := map[int]int{}
		for _, is := range got[user] {
			seen[is.seq] = is.txn
		}
		for seq := range perUser {
			if _, ok := seen[seq]; !ok {
				t.Errorf("%s: event %d was never evaluated", user, seq)
			}
			if later, ok := seen[seq+1]; ok && later < seen[seq] {
				t.Errorf("%s: event %d committed in transaction %d, before event %d in transaction %d", user, seq+1, later, seq, seen[seq])
			}
		}
		if control.KeyPartition([]byte(user), 32) >= 8 {
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("no user moved to a new partition; the test proves nothing")
	}
	t.Logf("%d of %d users moved; all events evaluated in user order %s after the resize began", moved, users, time.Since(started).Round(time.Millisecond))
}

// userSeq reads user and seq from an event id "ev-<user>-<seq>".
func userSeq(id string) (string, int) {
	id = strings.TrimPrefix(id, "ev-")
	i := strings.LastIndexByte(id, '-')
	seq, _ := strconv.Atoi(id[i+1:])
	return id[:i], seq
}

// TestResizeNeverGrowsBudget: a rule with a budget of 60 coupons and far
// more demand; user-events grows from 8 to 32 partitions while the
// triggers run, then the triggers restart on 32 partitions. The budget
// stays split over the 8 partitions it was split over (the new partitions
// get no share), so the total never exceeds 60 — while the run goes on
// and after the restart.
func TestResizeNeverGrowsBudget(t *testing.T) {
	brokers := kafka(t, 8)
	const budget = 60
	_, set := writeRules(t, strings.Replace(everyView, "cap: 1000,", "cap: 1000, budget: {coupons: 60},", 1))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var issued atomic.Int64
	count := triggers.WithOnIssue(func(rules.Issue) { issued.Add(1) })
	_, stop := runRunner(t, brokers, set, count, triggers.WithInstanceID("budget-a"))

	p, err := stream.NewProducer(stream.WithBrokers(brokers...), stream.WithLinger(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	joinResizes(t, p)
	round := func(r, users int) {
		for u := range users {
			user := fmt.Sprintf("b%04d", u)
			ev := &schemas.UserEvent{EventID: fmt.Sprintf("ev-%s-%d", user, r), UserID: user, SessionID: "s",
				Type: schemas.EventPageView, SKU: "sku-1", TS: time.Now().UTC()}
			if _, err := p.Produce(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Spend part of the budget on 8 partitions: 30 events, one coupon each.
	round(0, 30)
	waitIssued(t, &issued, 30)

	z, err := control.NewResizer(ctx, "", stream.ClientConfig{Brokers: brokers}.Opts(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	plan, err := z.Plan(ctx, topics.UserEvents, 32, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := z.Apply(ctx, plan, 10*time.Second, nil); err != nil {
		t.Fatalf("apply: %v", err)
	}
	round(1, 400) // far more demand than the budget, on all 32 partitions
	time.Sleep(3 * time.Second)
	if n := issued.Load(); n > budget {
		t.Fatalf("after the resize, %d coupons were issued; the budget is %d", n, budget)
	}
	stop()

	// Restart on 32 partitions (orders grown too, so the inputs match).
	if err := z.Apply(ctx, mustPlan(t, z, topics.Orders, 32), 10*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	if err := z.Apply(ctx, mustPlan(t, z, topics.OrdersPriority, 32), 10*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	runRunner(t, brokers, set, count, triggers.WithInstanceID("budget-a"))
	round(2, 400)
	time.Sleep(5 * time.Second)
	got := coupons(t, brokers, 1, 3*time.Second, 30*time.Second)
	if len(got) > budget || issued.Load() > budget {
		t.Fatalf("got %d coupons (%d issued callbacks); the budget is %d", len(got), issued.Load(), budget)
	}
	if len(got) < 40 {
		t.Errorf("got %d coupons; with this much demand the 8 original partitions should spend most of the budget of %d", len(got), budget)
	}
	t.Logf("%d coupons for a budget of %d across a resize 8 -> 32 and a restart", len(got), budget)
}

func waitIssued(t *testing.T, n *atomic.Int64, want int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for n.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("issued %d coupons, want %d", n.Load(), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mustPlan(t *testing.T, z *control.Resizer, topic string, n int32) *control.Plan {
	t.Helper()
	plan, err := z.Plan(context.Background(), topic, n, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// joinResizes makes p take part in resizes, as surge's commands do.
func joinResizes(t *testing.T, p *stream.Producer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.JoinResizes(ctx); err != nil {
		t.Fatalf("JoinResizes: %v", err)
	}
}
