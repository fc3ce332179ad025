package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/analytics/web"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/health"
)

// Campaign page targets.
const (
	uiQueryTarget = 50 * time.Millisecond // each API query, median
	uiSinkTarget  = 0.95                  // sink rows/s with pages open over without
	uiPages       = 20                    // live pages open during the drain
)

// uiViews are what the open pages show: four views shared by the twenty
// pages, the way a team watching a peak would open them.
var uiViews = []string{"", "from=1h", "campaign=black-friday", "campaign=hatsuuri&from=1h"}

// uiQueries are the API requests timed at report scale: every query a live
// page makes, one by one, and a whole snapshot (all of them at once).
// The data ends at the start of the current hour, so "from=3h" holds two
// to three hours of it.
var uiQueries = []string{
	"/api/reports/campaign-summary",
	"/api/reports/campaign-summary?from=3h",
	"/api/reports/campaign-summary?campaign=black-friday&from=3h",
	"/api/reports/campaign-summary?from=7h&to=1h",
	"/api/reports/gmv-per-minute?from=6h",
	"/api/reports/gmv-per-minute?campaign=hatsuuri&from=3h",
	"/api/reports/funnel-events",
	"/api/reports/funnel-events?from=3h",
	"/api/reports/coupons-per-rule",
}

// runUI measures the campaign page: its API's latency over rollups filled
// from the reports data set (10M user events, 1M orders), and what twenty
// open live pages cost the sink, as sink rows/s with and without them in
// turns on the same broker and server.
func runUI(ctx context.Context, e *env) (*section, error) {
	dir, cleanup, err := tempDir("ui")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	sec := &section{}
	queryRows, allMet, snapshot, err := uiQueryLatency(ctx, e, dir, sec)
	if err != nil {
		return nil, err
	}
	sinkRows, ratio, err := uiSinkCost(ctx, e, dir, sec)
	if err != nil {
		return nil, err
	}
	sec.Summary = fmt.Sprintf("ui: API queries over rollups at %s raw events %s (target <= %s each)%s; whole snapshot %s; sink with %d live pages %.3f of without (target >= %.2f)%s",
		fmtCount(int64(e.cfg.reportEvents+e.cfg.reportOrders)), uiSlowest(queryRows), fmtMs(uiQueryTarget), verdict(allMet),
		fmtMs(snapshot), uiPages, ratio, uiSinkTarget, verdict(ratio >= uiSinkTarget))
	var body strings.Builder
	body.WriteString(mdTable([]string{"API request", "median", "p max of runs", "bytes"}, queryRows))
	fmt.Fprintf(&body, `
Data: the reports scenario's set (%s user events, %s orders, %s coupons over
6 hours, inserted into the raw tables so the materialized views fill the
rollups), merges waited out. The campaign page's server (analytics/web) ran in
the bench process on 127.0.0.1; each request is a real HTTP GET through its
security checks, timed from sending to the last byte, median of %d runs after
one warm-up. /api/snapshot is one update of a live page: every query above
for its view, the campaign list and (here, without Kafka) no pipeline probe.

`, fmtCount(int64(e.cfg.reportEvents)), fmtCount(int64(e.cfg.reportOrders)), fmtCount(int64(max(e.cfg.reportOrders/10, 1))), e.cfg.reportRuns)
	body.WriteString(mdTable([]string{"sink run", "live pages", "rows", "time", "rows/s", "snapshots sent"}, sinkRows))
	fmt.Fprintf(&body, `
Method: the topics are pre-filled with %s records (as in the sink scenario);
the sink drains them into a fresh database and group per run, runs without and
with pages in turns (%d each), medians compared. With pages: before the sink
starts, a campaign page server is started on the run's database with a
pipeline probe (stream/health: consumer-group lag, topic offsets, ClickHouse
freshness) on the same broker, at the page's 1 s interval, and %d clients
hold /api/live streams open over four views (%s), reading every snapshot,
until the drain ends. One loop makes each view's snapshot once per interval,
whatever the number of pages on it, and views share queries with the same
parameters; the server's connection keeps campaign_buyers' parts in memory,
as surge ui does.
`, fmtCount(int64(e.cfg.sinkRecords)), max(e.cfg.sinkRuns, 1), uiPages, strings.Join(uiViewNames(), ", "))
	sec.Body = body.String()
	return sec, nil
}

func uiViewNames() []string {
	var out []string
	for _, v := range uiViews {
		if v == "" {
			v = "all campaigns, all time"
		}
		out = append(out, "`"+v+"`")
	}
	return out
}

func uiSlowest(rows [][]string) string {
	if len(rows) == 0 {
		return "n/a"
	}
	return "slowest " + strings.Trim(rows[0][1], "*")
}

// uiQueryLatency fills ClickHouse with the reports data set and times the
// page's API requests.
func uiQueryLatency(ctx context.Context, e *env, dir string, sec *section) (rows [][]string, allMet bool, snapshot time.Duration, err error) {
	ch, err := startClickHouse(ctx, e, dir+"/q")
	if err != nil {
		return nil, false, 0, err
	}
	defer ch.stop()
	if _, _, err := fillReportTables(ctx, e, ch); err != nil {
		return nil, false, 0, err
	}
	ch.waitMergesIdle(ctx, 2*time.Minute)
	ch.conn.KeepBuyersParts() // as surge ui does
	srv, err := web.New(ch.conn)
	if err != nil {
		return nil, false, 0, err
	}
	base, stop, err := serveWeb(ctx, srv)
	if err != nil {
		return nil, false, 0, err
	}
	defer stop()
	cl := &http.Client{Timeout: time.Minute}
	type timing struct {
		path   string
		median time.Duration
		worst  time.Duration
		bytes  int
	}
	var ts []timing
	for _, path := range append(uiQueries, "/api/snapshot") {
		var ds []time.Duration
		n := 0
		for i := 0; i <= e.cfg.reportRuns; i++ {
			t0 := time.Now()
			b, err := httpGet(ctx, cl, base+path)
			if err != nil {
				return nil, false, 0, err
			}
			if i > 0 { // the first run warms up
				ds = append(ds, time.Since(t0))
			}
			n = len(b)
		}
		worst := ds[0]
		for _, d := range ds {
			worst = max(worst, d)
		}
		t := timing{path, medianDuration(ds), worst, n}
		e.printf("GET %s: median %s (max %s), %d bytes", path, fmtMs(t.median), fmtMs(t.worst), n)
		if path == "/api/snapshot" {
			snapshot = t.median
		}
		ts = append(ts, t)
	}
	allMet = true
	var slowest timing
	for _, t := range ts[:len(uiQueries)] {
		allMet = allMet && t.median <= uiQueryTarget
		if t.median > slowest.median {
			slowest = t
		}
	}
	sec.Targets = append(sec.Targets, target{
		Goal:   fmt.Sprintf("every API query (rollups) median <= %s at %s raw events", fmtMs(uiQueryTarget), fmtCount(int64(e.cfg.reportEvents+e.cfg.reportOrders))),
		Result: fmt.Sprintf("slowest %s (%s); a whole page update %s", fmtMs(slowest.median), slowest.path, fmtMs(snapshot)),
		Met:    allMet,
	})
	rows = append(rows, []string{"**slowest query**", "**" + fmtMs(slowest.median) + "**", "", ""})
	for _, t := range ts {
		path := "`GET " + t.path + "`"
		if t.path == "/api/snapshot" {
			path += " (one whole page update; information)"
		}
		rows = append(rows, []string{path, fmtMs(t.median), fmtMs(t.worst), fmt.Sprint(t.bytes)})
	}
	return rows, allMet, snapshot, nil
}

// uiSinkCost times the sink with and without twenty live pages open.
func uiSinkCost(ctx context.Context, e *env, dir string, sec *section) (rows [][]string, ratio float64, err error) {
	n := e.cfg.sinkRecords
	b, err := startBroker(ctx, e)
	if err != nil {
		return nil, 0, err
	}
	defer b.Close()
	ch, err := startClickHouse(ctx, e, dir+"/s")
	if err != nil {
		return nil, 0, err
	}
	defer ch.stop()
	topics := stream.DefaultTopics()
	kc, err := rawClient(b.Addrs(), "bench-prefill")
	if err != nil {
		return nil, 0, err
	}
	defer kc.Close()
	if err := ensureTopics(ctx, kc, topics, e.cfg.partitions); err != nil {
		return nil, 0, err
	}
	load, err := encodeLoad(ctx, n)
	if err != nil {
		return nil, 0, err
	}
	if _, err := produceRaw(ctx, kc, topics, load); err != nil {
		return nil, 0, fmt.Errorf("pre-fill: %w", err)
	}
	load = nil
	e.printf("pre-filled %s records", fmtCount(int64(n)))

	var snapshots atomic.Int64
	pages := func(ctx context.Context, conn *analytics.Conn, group string) (func(), error) {
		probe, err := health.New(conn, stream.ClientConfig{Brokers: b.Addrs(), ClientID: "bench-ui"}, topics, group)
		if err != nil {
			return nil, err
		}
		conn.KeepBuyersParts() // as surge ui does
		srv, err := web.New(conn, web.WithPipeline(probe.Read), web.WithLogger(e.log))
		if err != nil {
			probe.Close()
			return nil, err
		}
		base, stopServer, err := serveWeb(ctx, srv)
		if err != nil {
			probe.Close()
			return nil, err
		}
		pctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		opened := make(chan error, uiPages)
		for i := range uiPages {
			wg.Add(1)
			go func() { // ended by cancel
				defer wg.Done()
				readLive(pctx, base+"/api/live?"+uiViews[i%len(uiViews)], &snapshots, opened)
			}()
		}
		for range uiPages { // every page has its first snapshot
			if err := <-opened; err != nil {
				cancel()
				wg.Wait()
				stopServer()
				probe.Close()
				return nil, err
			}
		}
		return func() {
			cancel()
			wg.Wait()
			stopServer()
			probe.Close()
		}, nil
	}

	var without, with []float64
	for i := range max(e.cfg.sinkRuns, 1) {
		for _, withPages := range []bool{false, true} {
			ch.waitMergesIdle(ctx, time.Minute)
			run := 2*i + 1
			if withPages {
				run++
			}
			before := snapshots.Load()
			var extra []alongside
			if withPages {
				extra = append(extra, pages)
			}
			r, err := timeSurgeSink(ctx, e, ch, b.Addrs(), uint64(n), run, true, extra...)
			if err != nil {
				return nil, 0, fmt.Errorf("sink run %d: %w", run, err)
			}
			sent := snapshots.Load() - before
			label, count := "0", "—"
			if withPages {
				with = append(with, r.drain.rate())
				label, count = fmt.Sprint(uiPages), fmtCount(sent)
			} else {
				without = append(without, r.drain.rate())
			}
			e.printf("sink run %d, %s live pages: %s rows in %.2fs, %s rows/s, %s snapshots sent",
				run, label, fmtCount(int64(r.drain.final)), r.drain.took.Seconds(), fmtRate(r.drain.rate()), count)
			rows = append(rows, []string{fmt.Sprint(run), label, fmtCount(int64(r.drain.final)),
				fmt.Sprintf("%.2f s", r.drain.took.Seconds()), fmtRate(r.drain.rate()), count})
		}
	}
	mw, mo := median(with), median(without)
	ratio = mw / mo
	rows = append(rows, []string{"**median**", "0", "", "", "**" + fmtRate(mo) + "**", ""},
		[]string{"**median**", fmt.Sprint(uiPages), "", "", "**" + fmtRate(mw) + "**", ""})
	sec.Targets = append(sec.Targets, target{
		Goal:   fmt.Sprintf("sink rows/s with %d live pages open >= %.2f × without", uiPages, uiSinkTarget),
		Result: fmt.Sprintf("%.3f (%s vs %s rows/s)", ratio, fmtRate(mw), fmtRate(mo)),
		Met:    ratio >= uiSinkTarget,
	})
	return rows, ratio, nil
}

// serveWeb serves srv on a free loopback port until stop.
func serveWeb(ctx context.Context, srv *web.Server) (base string, stop func(), err error) {
	ln, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }() // ended by stop
	return "http://" + ln.Addr().String(), func() { cancel(); <-done }, nil
}

func httpGet(ctx context.Context, cl *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	return b, nil
}

// readLive holds a live stream open like a page does, counting snapshots.
// It sends on opened once: nil at the first snapshot, or why the stream
// could not be read. It returns when the stream ends (ctx ended).
func readLive(ctx context.Context, url string, count *atomic.Int64, opened chan<- error) {
	fail := func(err error) { opened <- err }
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		fail(err)
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fail(err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fail(fmt.Errorf("GET %s: %s", url, resp.Status))
		return
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	first := true
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			count.Add(1)
			if first {
				first = false
				opened <- nil
			}
		}
	}
	if first {
		fail(fmt.Errorf("GET %s: stream ended before its first snapshot: %v", url, sc.Err()))
	}
}
