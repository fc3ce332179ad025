package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/sink"
)

var screenshot = flag.String("screenshot", "", "where TestCampaignPageInBrowser saves its screenshot (PNG); default a file in the temporary directory")

// chromium returns the path of the Chromium binary, or ends the test (a
// failure under CI) when it is missing.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Unavailable(t, "chromium not installed (make deps installs it)")
	return ""
}

// syncBuffer is a bytes.Buffer safe for a command writing while the test
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startUICmd runs `surge ui` in process with args until the test ends and
// returns the page's URL.
func startUICmd(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	root := newRootCmd()
	var out, errb syncBuffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(append([]string{"ui"}, args...))
	done := make(chan struct{})
	var runErr error
	go func() { runErr = root.ExecuteContext(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if runErr != nil {
			t.Errorf("surge ui: %v\n%s", runErr, errb.String())
		}
	})
	re := regexp.MustCompile(`campaign page: (http://\S+)`)
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		select {
		case <-done:
			t.Fatalf("surge ui ended: %v\n%s\n%s", runErr, out.String(), errb.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("surge ui printed no URL within a minute:\n%s\n%s", out.String(), errb.String())
	return ""
}

// shownRow is a row of the page's campaign table, as text.
type shownRow struct {
	Campaign string            `json:"campaign"`
	Currency string            `json:"currency"`
	Cells    map[string]string `json:"cells"`
}

const readSummaryJS = `[...document.querySelectorAll('#summary tbody tr')].map(tr => ({
  campaign: tr.dataset.campaign, currency: tr.dataset.currency,
  cells: Object.fromEntries([...tr.querySelectorAll('td[data-field]')].map(td => [td.dataset.field, td.textContent]))}))`

// wantSummary runs `surge report campaign-summary --output json` with the
// flags and returns its rows as the page must show them: counts grouped,
// money in major units of the row's currency.
func wantSummary(t *testing.T, flags ...string) []shownRow {
	t.Helper()
	out, stderr, err := run(t, append([]string{"report", "campaign-summary", "--output", "json"}, flags...)...)
	if err != nil {
		t.Fatalf("surge report: %v\n%s", err, stderr)
	}
	var rows []struct {
		Campaign        string  `json:"campaign"`
		Currency        string  `json:"currency"`
		Orders          int64   `json:"orders"`
		GMV             int64   `json:"gmv"`
		Buyers          int64   `json:"buyers"`
		AvgOrderValue   float64 `json:"avg_order_value"`
		CouponsIssued   int64   `json:"coupons_issued"`
		CouponsRedeemed int64   `json:"coupons_redeemed"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("surge report output: %v\n%s", err, out)
	}
	n := func(v int64) string { return schemas.FormatMoney(v, "") } // grouped digits
	want := make([]shownRow, len(rows))
	for i, r := range rows {
		want[i] = shownRow{Campaign: r.Campaign, Currency: r.Currency, Cells: map[string]string{
			"campaign": r.Campaign, "orders": n(r.Orders), "gmv": schemas.FormatMoney(r.GMV, r.Currency),
			"buyers": n(r.Buyers), "avg_order_value": schemas.FormatMoneyFloat(r.AvgOrderValue, r.Currency),
			"coupons_issued": n(r.CouponsIssued), "coupons_redeemed": n(r.CouponsRedeemed),
		}}
	}
	return want
}

func sameRows(a, b []shownRow) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// TestCampaignPageInBrowser loads the campaign page of `surge ui` in
// headless Chromium against a pipeline with known data (kfake with a sink
// group behind and a dead letter, ClickHouse with three campaigns in USD,
// JPY and BHD written into the raw tables so the rollups fill). It checks
// that the page shows the numbers of `surge report campaign-summary`, that
// the charts, funnel and budget bars drew, that the pipeline health shows
// the group's lag and the dead letter, that a new batch of orders appears
// without a reload, that the picker keeps the campaign in the URL, and
// that the console stayed free of errors. It saves a screenshot
// (-screenshot FILE).
func TestCampaignPageInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium; without -short (and always in CI)")
	}
	browser := chromium(t)
	conn := testenv.ClickHouseConn(t)
	chAddr := testenv.ClickHouse(t).Addr()
	topics := stream.DefaultTopics()
	kafka := testenv.KafkaCluster(t, 4, []string{topics.Orders, topics.OrdersPriority, topics.UserEvents, topics.Coupons, topics.DeadLetters})
	brokers := kafka.ListenAddrs()

	// Kafka: 10 order records on partition 0 of which the sink group
	// committed 4 (6 behind, no member: stopped), and one dead letter.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var recs []*kgo.Record
	for i := 0; i < 10; i++ {
		recs = append(recs, &kgo.Record{Topic: topics.Orders, Partition: 0, Value: []byte("{}"), Timestamp: time.Now().Add(-time.Minute)})
	}
	recs = append(recs, &kgo.Record{Topic: topics.DeadLetters, Partition: 0, Value: []byte("{}")})
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	offs := make(kadm.Offsets)
	offs.AddOffset(topics.Orders, 0, 4, -1)
	if err := kadm.NewClient(cl).CommitAllOffsets(ctx, sink.DefaultGroup, offs); err != nil {
		t.Fatal(err)
	}

	// ClickHouse: 30 orders per campaign over the last ~12 minutes.
	testenv.WriteShop(t, conn, 1, 30, time.Now().UTC())
	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesFile, []byte(pageRules), 0o644); err != nil {
		t.Fatal(err)
	}
	chFlags := []string{"--clickhouse", chAddr, "--clickhouse-database", conn.Database()}
	base := startUICmd(t, append([]string{"--addr", "127.0.0.1:0", "--brokers", strings.Join(brokers, ","),
		"--interval", "500ms", "--rules", rulesFile}, chFlags...)...)

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1360, 1000),
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	var (
		consoleMu sync.Mutex
		console   []chromedp.ConsoleMessage
	)
	messages := chromedp.Console(bctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			consoleMu.Lock()
			console = append(console, m)
			consoleMu.Unlock()
		}
	}()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(what, js string, dst any) {
		t.Helper()
		raw, err := chromedp.Run(bctx, chromedp.Evaluate[json.RawMessage](js))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			t.Fatalf("%s: %v (%s)", what, err, raw)
		}
	}
	waitFor := func(what, js string) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}

	do("open the page", chromedp.Navigate(base+"?from=1h"))
	waitFor("the first snapshot", `document.body.dataset.rendered !== undefined && document.querySelectorAll('#summary tbody tr').length === 3`)

	// The numbers are those of surge report campaign-summary.
	want := wantSummary(t, append([]string{"--from", "1h"}, chFlags...)...)
	var shown []shownRow
	eval("read the campaign table", readSummaryJS, &shown)
	if !sameRows(shown, want) {
		t.Errorf("campaign table:\ngot  %+v\nwant %+v", shown, want)
	}
	for _, c := range []string{"$", "¥", "BHD "} {
		if !strings.Contains(fmt.Sprint(shown), c) {
			t.Errorf("campaign table shows no %q amount: %+v", c, shown)
		}
	}

	// The charts drew a non-empty line per campaign, the funnel its bars,
	// the budgets their bars, and the health the group and dead letter.
	var drawn struct {
		GMV, Orders []string
		Funnel      []float64
		Budgets     []string
		Group       map[string]string
		DeadLetters string
	}
	eval("read the drawings", `({
  GMV: [...document.querySelectorAll('#charts path.line-gmv')].map(p => p.getAttribute('d')),
  Orders: [...document.querySelectorAll('#charts path.line-orders')].map(p => p.getAttribute('d')),
  Funnel: [...document.querySelectorAll('#funnel rect.bar')].map(r => Number(r.getAttribute('width'))),
  Budgets: [...document.querySelectorAll('#coupons td[data-field=budget]')].map(td => td.textContent),
  Group: Object.fromEntries([...document.querySelectorAll('#groups tr[data-group="`+sink.DefaultGroup+`"] td')].map((td, i) => [td.dataset.field || String(i), td.textContent])),
  DeadLetters: (document.querySelector('#health-tiles [data-key=dead_letters] .value') || {}).textContent,
})`, &drawn)
	if len(drawn.GMV) != 3 || len(drawn.Orders) != 3 {
		t.Errorf("charts: %d GMV and %d orders lines, want 3 each", len(drawn.GMV), len(drawn.Orders))
	}
	for _, d := range append(drawn.GMV, drawn.Orders...) {
		if strings.Count(d, " L") < 10 {
			t.Errorf("chart path %q: want a line of many points", d)
		}
	}
	if len(drawn.Funnel) != 12 {
		t.Errorf("funnel: %d bars, want 4 steps × 3 campaigns", len(drawn.Funnel))
	}
	for _, w := range drawn.Funnel {
		if w <= 0 {
			t.Errorf("funnel bar widths %v: want all above 0", drawn.Funnel)
			break
		}
	}
	if want := []string{"50.0%", "–", "50.0%"}; fmt.Sprint(drawn.Budgets) != fmt.Sprint(want) {
		t.Errorf("budget used: got %q, want %q", drawn.Budgets, want)
	}
	if drawn.Group["status"] != "stopped" || drawn.Group["lag_records"] != "6" {
		t.Errorf("sink group row: %v, want stopped with 6 records of lag", drawn.Group)
	}
	if drawn.DeadLetters != "1" {
		t.Errorf("dead letters tile: %q, want 1", drawn.DeadLetters)
	}

	shot := *screenshot
	if shot == "" {
		shot = filepath.Join(os.TempDir(), "surge-campaign-page.png")
	}
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)

	// A new round of orders shows without a reload.
	eval("mark the page", `window.surgeTestMark = 42`, new(int))
	testenv.WriteShop(t, conn, 2, 3, time.Now().UTC())
	want = wantSummary(t, append([]string{"--from", "1h"}, chFlags...)...)
	// WriteShop's INSERTs land one table after the other: a page update
	// may fall between the orders and the coupons, so wait for both.
	cell := func(field string) string {
		return `document.querySelector('#summary tr[data-campaign="black-friday"] td[data-field=` + field + `]').textContent === "` +
			want[0].Cells[field] + `"`
	}
	waitFor("the new orders and coupons", cell("orders")+" && "+cell("coupons_issued"))
	eval("read the campaign table again", readSummaryJS, &shown)
	if !sameRows(shown, want) {
		t.Errorf("campaign table after the new orders:\ngot  %+v\nwant %+v", shown, want)
	}
	var mark int
	eval("read the mark", `window.surgeTestMark`, &mark)
	if mark != 42 {
		t.Errorf("the page reloaded to show the new orders")
	}

	// The picker puts the campaign in the URL and shows only it; the URL
	// opened anew shows the same view.
	eval("pick hatsuuri", `(() => { const s = document.getElementById('campaign'); s.value = 'hatsuuri';
  s.dispatchEvent(new Event('change')); return true; })()`, new(bool))
	onlyHatsuuri := `location.search.includes('campaign=hatsuuri') && location.search.includes('from=1h') &&
  document.querySelectorAll('#summary tbody tr').length === 1 &&
  document.querySelector('#summary tbody tr').dataset.campaign === 'hatsuuri'`
	waitFor("the picked campaign", onlyHatsuuri)
	var url string
	eval("read the URL", `location.href`, &url)
	do("open the shared link", chromedp.Navigate(url))
	waitFor("the shared view", onlyHatsuuri+` && document.getElementById('campaign').value === 'hatsuuri' && document.getElementById('range').value === '1h'`)

	consoleMu.Lock()
	defer consoleMu.Unlock()
	for _, m := range console {
		if m.Type == chromedp.ConsoleError || m.IsException() {
			t.Errorf("browser console: %s (%s:%d)", m, m.URL, m.Line)
		} else {
			t.Logf("browser console: %s", m)
		}
	}
}

// pageRules are the rules whose budgets the page shows: black-friday's by
// coupon count, hatsuuri's by value; eid-sale has none.
const pageRules = `campaigns:
  - id: black-friday
    timezone: UTC
    start: 2026-01-01 00:00
    end: 2030-01-01 00:00
  - id: hatsuuri
    timezone: Asia/Tokyo
    start: 2026-01-01 00:00
    end: 2030-01-01 00:00
rules:
  - id: welcome-black-friday
    campaign: black-friday
    kind: count
    events: [page_view]
    count: 1
    within: 1h
    coupon: {value: 500, currency: USD, expires: 48h}
    cap: 1
    budget: {coupons: 4}
  - id: welcome-hatsuuri
    campaign: hatsuuri
    kind: count
    events: [page_view]
    count: 1
    within: 1h
    coupon: {value: 500, currency: JPY, expires: 48h}
    cap: 1
    budget: {value: 2000}
`
