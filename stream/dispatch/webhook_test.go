package dispatch_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/dispatch"
)

// service is a webhook test server that records every delivery.
type service struct {
	c       *checker
	mu      sync.Mutex
	byEvent map[string][]delivery
	status  func(eventID string) int
	headers []http.Header
}

type delivery struct {
	attempt int
	at      time.Time
	status  int
	path    string // the URL path called: which instance, when each has its own
}

func newService(status func(eventID string) int) (*service, *httptest.Server) {
	s := &service{c: newChecker(), byEvent: map[string][]delivery{}, status: status}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(dispatch.WebhookEventID)
		key, seq := keySeq(id)
		s.c.begin(key, seq)
		code := s.status(id)
		attempt, _ := strconv.Atoi(r.Header.Get(dispatch.WebhookAttempt))
		s.mu.Lock()
		s.byEvent[id] = append(s.byEvent[id], delivery{attempt, time.Now(), code, r.URL.Path})
		if len(s.headers) < 5 {
			s.headers = append(s.headers, r.Header.Clone())
		}
		s.mu.Unlock()
		s.c.end(key, seq, code/100 == 2)
		w.WriteHeader(code)
	}))
	return s, srv
}

// TestWebhookOutageThenRecovery: the service answers 500 for 3 seconds (a
// minute-long outage scaled down) and then recovers. Nothing is lost, every
// key's order holds, and retries of a record are spaced by at least the
// backoff's lower bound.
func TestWebhookOutageThenRecovery(t *testing.T) {
	brokers := cluster(t, 4)
	const outage = 3 * time.Second
	var start atomic.Pointer[time.Time]
	svc, srv := newService(func(string) int {
		now := time.Now()
		start.CompareAndSwap(nil, &now) // the outage starts with the first request
		if s := start.Load(); time.Since(*s) < outage {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	defer srv.Close()
	keys := produce(t, brokers, topics.Orders, 40, 10, nil)
	const base = 50 * time.Millisecond
	opts := append(baseOpts(t, brokers, "outage"),
		dispatch.WithHandler(dispatch.Webhook(srv.URL, 2*time.Second, nil)),
		dispatch.WithBackoff(base, 800*time.Millisecond), dispatch.WithRetryBudget(100, time.Minute))
	d, _ := runDispatcher(t, opts...)
	waitFor(t, 40*time.Second, "all records delivered", func() bool { return len(svc.c.missing(keys, 10, nil)) == 0 })
	svc.c.report(t)
	svc.mu.Lock()
	defer svc.mu.Unlock()
	retried := 0
	for id, ds := range svc.byEvent {
		for i := 1; i < len(ds); i++ {
			a := ds[i-1].attempt
			if a < 1 {
				continue
			}
			// backoff(a) >= base*2^(a-1)/2, capped at max/2.
			min := base << (a - 1) / 2
			if min > 400*time.Millisecond {
				min = 400 * time.Millisecond
			}
			if gap := ds[i].at.Sub(ds[i-1].at); gap < min-5*time.Millisecond {
				t.Errorf("%s: attempt %d came %s after attempt %d, want at least %s", id, ds[i].attempt, gap, a, min)
			}
			if ds[i].attempt != a+1 && ds[i-1].status != 200 {
				t.Errorf("%s: attempt header %d after %d, want %d", id, ds[i].attempt, a, a+1)
			}
			retried++
		}
	}
	if retried == 0 {
		t.Error("no record was retried: the outage did not bite")
	}
	h := svc.headers[0]
	if h.Get(dispatch.WebhookIdempotencyKey) == "" || h.Get(dispatch.WebhookIdempotencyKey) != h.Get(dispatch.WebhookEventID) ||
		h.Get(dispatch.WebhookTopic) != topics.Orders || h.Get(dispatch.WebhookOffset) == "" || h.Get("Content-Type") != "application/json" {
		t.Errorf("webhook headers %v: want Idempotency-Key = surge-event-id, topic, offset, JSON", h)
	}
	if st := d.Stats(); st.DeadLettered != 0 {
		t.Errorf("got %d dead letters, want 0", st.DeadLettered)
	}
}

// TestWebhook4xxDeadLetterAndRedrive: a 404 is permanent (one attempt, then
// the dead-letter topic); after the service is fixed, a redrive replays each
// dead letter to the group once, and a second redrive replays nothing.
func TestWebhook4xxDeadLetterAndRedrive(t *testing.T) {
	brokers := cluster(t, 4)
	var fixed atomic.Bool
	bad := map[string]bool{"e-u0002-3": true, "e-u0005-0": true}
	svc, srv := newService(func(id string) int {
		if bad[id] && !fixed.Load() {
			return http.StatusNotFound
		}
		if id == "e-u0001-1" && !fixed.Load() {
			return http.StatusTooManyRequests // retryable
		}
		return http.StatusOK
	})
	defer srv.Close()
	keys := produce(t, brokers, topics.Orders, 8, 5, nil)
	runDispatcher(t, append(baseOpts(t, brokers, "shop"),
		dispatch.WithHandler(dispatch.Webhook(srv.URL, time.Second, nil)), dispatch.WithRetryBudget(3, time.Minute))...)
	except := map[string]bool{"e-u0002-3": true, "e-u0005-0": true, "e-u0001-1": true}
	waitFor(t, 30*time.Second, "good records delivered", func() bool { return len(svc.c.missing(keys, 5, except)) == 0 })
	waitFor(t, 10*time.Second, "3 dead letters", func() bool { return len(deadLetters(t, brokers)) == 3 })
	for _, dl := range deadLetters(t, brokers) {
		id := eventIDOf(dl.Value)
		want := 1
		if id == "e-u0001-1" {
			want = 3
		}
		if dl.Attempts != want {
			t.Errorf("%s: got %d attempts, want %d", id, dl.Attempts, want)
		}
	}
	cfg := stream.ClientConfig{Brokers: brokers}
	ctx := context.Background()
	fixed.Store(true)
	rep, err := dispatch.Redrive(ctx, cfg, topics.DeadLetters, "shop", nil, dispatch.ToGroup)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Redriven != 3 || rep.Skipped != 0 {
		t.Errorf("first redrive: got %+v, want 3 redriven, 0 skipped", rep)
	}
	waitFor(t, 20*time.Second, "redriven records delivered", func() bool { return len(svc.c.missing(keys, 5, nil)) == 0 })
	rep, err = dispatch.Redrive(ctx, cfg, topics.DeadLetters, "shop", nil, dispatch.ToGroup)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Redriven != 0 || rep.Skipped != 3 {
		t.Errorf("second redrive: got %+v, want 0 redriven, 3 skipped", rep)
	}
	time.Sleep(500 * time.Millisecond)
	svc.mu.Lock()
	defer svc.mu.Unlock()
	for id := range except {
		ok := 0
		for _, d := range svc.byEvent[id] {
			if d.status == 200 {
				ok++
			}
		}
		if ok != 1 {
			t.Errorf("%s: delivered successfully %d times after redrives, want 1", id, ok)
		}
	}
	f := true
	es, err := dispatch.ListDeadLetters(ctx, cfg, topics.DeadLetters, "shop", &dispatch.Filter{Redriven: &f})
	if err != nil || len(es) != 3 {
		t.Errorf("list redriven=true: got %d entries (err %v), want 3", len(es), err)
	}
}
