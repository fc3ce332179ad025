package web_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/analytics/web"
	"github.com/surgeio/surge/internal/testenv"
)

// countingReporter counts the campaign-summary and campaign list queries.
type countingReporter struct {
	*analytics.Conn
	summaries atomic.Int64
	campaigns atomic.Int64
}

func (r *countingReporter) Campaigns(ctx context.Context) ([]string, error) {
	r.campaigns.Add(1)
	return r.Conn.Campaigns(ctx)
}

func (r *countingReporter) Report(ctx context.Context, name string, p analytics.ReportParams) (*analytics.ReportResult, error) {
	if name == "campaign-summary" {
		r.summaries.Add(1)
	}
	return r.Conn.Report(ctx, name, p)
}

type liveSnapshot struct {
	Summary []struct {
		Campaign string `json:"campaign"`
		Orders   uint64 `json:"orders"`
		GMV      int64  `json:"gmv"`
	} `json:"summary"`
	PerMinute  []map[string]any `json:"per_minute"`
	Funnel     []map[string]any `json:"funnel"`
	Coupons    []map[string]any `json:"coupons"`
	Currencies map[string]struct {
		Exponent int    `json:"exponent"`
		Symbol   string `json:"symbol"`
	} `json:"currencies"`
	Pipeline *web.Pipeline `json:"pipeline"`
	Errors   []string      `json:"errors"`
}

// readEvents reads snapshot events from an SSE stream into ch.
func readEvents(t *testing.T, resp *http.Response, ch chan<- liveSnapshot) {
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "snapshot":
			var s liveSnapshot
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &s); err != nil {
				t.Errorf("snapshot is not JSON: %v", err)
				return
			}
			ch <- s
		}
	}
}

// TestLiveStream opens the event stream of one campaign, writes a new round
// of orders and waits for a snapshot that has them: it must come within 2
// intervals and the time the queries take, and match the report's numbers.
func TestLiveStream(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	end := time.Now().UTC()
	testenv.WriteShop(t, conn, 1, 5, end)
	rep := &countingReporter{Conn: conn}
	srv, err := web.New(rep, web.WithInterval(500*time.Millisecond),
		web.WithBudgets(web.Budget{Campaign: "black-friday", Rule: "welcome-black-friday", Coupons: 10, Currency: "USD"}),
		web.WithPipeline(func(context.Context) (*web.Pipeline, error) {
			return &web.Pipeline{EventsPerSecond: 42, LastInsertSeconds: 1}, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := make(chan liveSnapshot, 100)
	for i := 0; i < 3; i++ { // three pages on the same view share one loop
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/live?campaign=black-friday&from=1h", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("GET /api/live: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		go readEvents(t, resp, ch)
	}
	first := <-ch
	received := 1
	if len(first.Summary) != 1 || first.Summary[0].Campaign != "black-friday" || first.Summary[0].Orders != 5 {
		t.Fatalf("first snapshot summary: %+v, want black-friday with 5 orders", first.Summary)
	}
	if len(first.PerMinute) == 0 || len(first.Funnel) != 1 || len(first.Coupons) != 1 || len(first.Errors) != 0 {
		t.Errorf("first snapshot: per_minute %d rows, funnel %v, coupons %v, errors %v", len(first.PerMinute), first.Funnel, first.Coupons, first.Errors)
	}
	if c := first.Currencies["USD"]; c.Exponent != 2 || c.Symbol != "$" {
		t.Errorf("currencies: %+v, want USD exponent 2 symbol $", first.Currencies)
	}
	if first.Pipeline == nil || first.Pipeline.EventsPerSecond != 42 {
		t.Errorf("pipeline: %+v, want the probe's", first.Pipeline)
	}

	written := time.Now()
	testenv.WriteShop(t, conn, 2, 5, time.Now().UTC())
	deadline := time.After(10 * time.Second)
	for {
		select {
		case s := <-ch:
			received++
			if len(s.Summary) == 1 && s.Summary[0].Orders == 10 {
				took := time.Since(written)
				t.Logf("new orders shown after %s", took)
				if took > 5*time.Second { // 2s asked; slack for a loaded machine
					t.Errorf("new orders took %s to show, want within 2s of the write", took)
				}
				// Three streams, one loop: each summary query fed all three.
				if calls := rep.summaries.Load(); int64(received) < 2*calls {
					t.Errorf("%d campaign-summary queries for %d snapshots on 3 streams of one view: the streams do not share a loop", calls, received)
				}
				return
			}
		case <-deadline:
			t.Fatal("no snapshot with the new orders within 10s")
		}
	}
}

// TestLiveViewsShareQueries opens pages on three views, two of which ask
// campaign-summary over the same minutes ("from=1h" and "from=60m"): each
// round of snapshots lists the campaigns once for all views and runs that
// summary once for both.
func TestLiveViewsShareQueries(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	testenv.WriteShop(t, conn, 1, 5, time.Now().UTC())
	rep := &countingReporter{Conn: conn}
	srv, err := web.New(rep, web.WithInterval(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := make(chan liveSnapshot, 1000)
	for _, q := range []string{"from=1h", "from=60m", "campaign=black-friday"} {
		for range 2 {
			req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/live?"+q, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			go readEvents(t, resp, ch)
		}
	}
	received := 0
	for deadline := time.After(20 * time.Second); received < 6*8; received++ {
		select {
		case s := <-ch:
			if len(s.Errors) != 0 {
				t.Fatalf("snapshot errors: %v", s.Errors)
			}
		case <-deadline:
			t.Fatalf("%d snapshots in 20s, want %d", received, 6*8)
		}
	}
	cancel()
	rounds, summaries := rep.campaigns.Load(), rep.summaries.Load()
	t.Logf("%d snapshots on 6 streams of 3 views: %d rounds, %d campaign-summary queries", received, rounds, summaries)
	if rounds == 0 || rounds > int64(received)/2 {
		t.Errorf("%d campaign list queries for %d snapshots on 6 streams of 3 views: want one per round", rounds, received)
	}
	// A round that straddles a minute may see from=1h and from=60m as
	// different minutes: allow one such round.
	if summaries > 2*rounds+1 {
		t.Errorf("%d campaign-summary queries in %d rounds of 3 views, 2 of them over the same minutes: want at most 2 a round", summaries, rounds)
	}
}
