package web

import (
	"context"
	"sync"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/output"
	"github.com/surgeio/surge/schemas"
)

// Pipeline is the pipeline's health as the page shows it.
type Pipeline struct {
	// EventsPerSecond is the rate records arrive on the sink's input
	// topics, over the last two samples.
	EventsPerSecond float64 `json:"events_per_second"`
	// SinkLagSeconds is the age of the oldest record the sink has not
	// written to ClickHouse yet: an event becomes queryable at most this
	// long after it happened (the sink commits only what ClickHouse holds).
	SinkLagSeconds float64 `json:"sink_lag_seconds"`
	// LastInsertSeconds is how long ago the newest row was inserted into
	// a raw table (-1: none yet).
	LastInsertSeconds float64 `json:"last_insert_seconds"`
	// Groups are the consumer groups' lag and status.
	Groups []GroupHealth `json:"groups"`
	// DeadLetters is the records on the dead-letter topic.
	DeadLetters int64 `json:"dead_letters"`
	// SinkRejects is the records the sink could not decode, kept in
	// ClickHouse's sink_rejects table.
	SinkRejects uint64 `json:"sink_rejects"`
	// Errors are the parts of the health that could not be read.
	Errors []string `json:"errors,omitempty"`
}

// GroupHealth is one consumer group's lag.
type GroupHealth struct {
	Group      string  `json:"group"`
	Status     string  `json:"status"`
	Reason     string  `json:"reason,omitempty"`
	Members    int     `json:"members"`
	LagRecords int64   `json:"lag_records"`
	LagSeconds float64 `json:"lag_seconds"`
	Rate       float64 `json:"rate"`
}

// currency is what the page needs to write an amount of a currency.
type currency struct {
	Exponent int    `json:"exponent"`
	Symbol   string `json:"symbol"`
}

// snapshot is one update of the page, the JSON of /api/snapshot and of each
// event of /api/live. Report rows have the keys and values of the reports'
// JSON output: money in integer minor units next to its currency, which
// Currencies describes.
type snapshot struct {
	At         time.Time           `json:"at"`
	View       view                `json:"view"`
	Campaigns  []string            `json:"campaigns"`
	Currencies map[string]currency `json:"currencies"`
	Summary    []map[string]any    `json:"summary"`
	// PerMinute is gmv-per-minute over the chart's window, [ChartFrom,
	// ChartTo): the view's range, at most its last 24 hours.
	PerMinute []map[string]any `json:"per_minute"`
	ChartFrom time.Time        `json:"chart_from"`
	ChartTo   time.Time        `json:"chart_to"`
	Funnel    []map[string]any `json:"funnel"`
	// Coupons is coupons-per-rule over the campaign's whole life (budgets
	// are for the whole campaign), with Budgets next to it.
	Coupons  []map[string]any `json:"coupons"`
	Budgets  []Budget         `json:"budgets"`
	Pipeline *Pipeline        `json:"pipeline"`
	Errors   []string         `json:"errors"`
}

// chartSpan is the longest time the per-minute charts cover.
const chartSpan = 24 * time.Hour

// memo holds the answers of one round of snapshots (hub.round), so that
// views asking the same query share one run of it. A nil *memo shares
// nothing.
type memo struct {
	reports   map[memoKey]memoResult
	campaigns *memoResult
}

// memoKey is a report and its parameters with From and To rounded up to
// the minute: the rollup reports keep the minutes that start in
// [From, To), so the rounded range has the same rows ("from=1h" asked a
// few milliseconds apart by two views is one query).
type memoKey struct {
	name, campaign string
	from, to       int64
}

type memoResult struct {
	res       *analytics.ReportResult
	campaigns []string
	err       error
}

func newMemo() *memo { return &memo{reports: make(map[memoKey]memoResult)} }

// ceilMinute rounds t up to a whole minute; the zero time stays zero.
func ceilMinute(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return (t.Unix() + 59) / 60 * 60
}

// report runs the named report, or returns its answer from earlier in the
// round.
func (m *memo) report(ctx context.Context, rep Reporter, name string, p analytics.ReportParams) (*analytics.ReportResult, error) {
	if m == nil {
		return rep.Report(ctx, name, p)
	}
	k := memoKey{name, p.Campaign, ceilMinute(p.From), ceilMinute(p.To)}
	if r, ok := m.reports[k]; ok {
		return r.res, r.err
	}
	res, err := rep.Report(ctx, name, p)
	m.reports[k] = memoResult{res: res, err: err}
	return res, err
}

// listCampaigns lists the campaigns, or returns them from earlier in the
// round.
func (m *memo) listCampaigns(ctx context.Context, rep Reporter) ([]string, error) {
	if m == nil {
		return rep.Campaigns(ctx)
	}
	if m.campaigns == nil {
		c, err := rep.Campaigns(ctx)
		m.campaigns = &memoResult{campaigns: c, err: err}
	}
	return m.campaigns.campaigns, m.campaigns.err
}

// snapshot builds the view's snapshot as JSON, with the queries of m's
// round. A report that fails leaves its section empty and its error in
// Errors; the page says so.
func (s *Server) snapshot(ctx context.Context, v view, m *memo) []byte {
	now := s.now().UTC()
	snap := snapshot{At: now, View: v, Currencies: map[string]currency{}, Campaigns: []string{},
		Summary: []map[string]any{}, PerMinute: []map[string]any{}, Funnel: []map[string]any{},
		Coupons: []map[string]any{}, Budgets: []Budget{}, Errors: []string{}}
	p, err := s.params(v)
	if err != nil {
		snap.Errors = append(snap.Errors, err.Error())
		return marshal(snap)
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	fail := func(what string, err error) {
		snap.Errors = append(snap.Errors, what+": "+err.Error())
	}
	if snap.Campaigns, err = m.listCampaigns(qctx, s.rep); err != nil {
		fail("campaigns", err)
		snap.Campaigns = []string{}
	}
	run := func(name string, p analytics.ReportParams, dst *[]map[string]any) {
		res, err := m.report(qctx, s.rep, name, p)
		if err != nil {
			fail(name, err)
			return
		}
		*dst = output.Objects(res.Columns, res.Rows)
		for _, row := range *dst {
			if c, ok := row["currency"].(string); ok {
				addCurrency(snap.Currencies, c)
			}
		}
	}
	run("campaign-summary", p, &snap.Summary)
	cp := p
	snap.ChartTo = now
	if !p.To.IsZero() {
		snap.ChartTo = p.To.UTC()
	}
	snap.ChartFrom = snap.ChartTo.Add(-chartSpan)
	if p.From.After(snap.ChartFrom) {
		snap.ChartFrom = p.From.UTC()
	}
	cp.From, cp.To = snap.ChartFrom, snap.ChartTo
	run("gmv-per-minute", cp, &snap.PerMinute)
	run("funnel-events", p, &snap.Funnel)
	run("coupons-per-rule", analytics.ReportParams{Campaign: p.Campaign}, &snap.Coupons)
	for _, b := range s.budgets {
		if p.Campaign == "" || b.Campaign == p.Campaign {
			snap.Budgets = append(snap.Budgets, b)
			addCurrency(snap.Currencies, b.Currency)
		}
	}
	snap.Pipeline = s.health.get(ctx, s)
	return marshal(snap)
}

func addCurrency(m map[string]currency, code string) {
	if _, ok := m[code]; ok || code == "" {
		return
	}
	if exp, ok := schemas.CurrencyExponent(code); ok {
		m[code] = currency{Exponent: exp, Symbol: schemas.CurrencySymbol(code)}
	}
}

// healthEvery is the shortest time between two probes of the pipeline: its
// lag sample reads every group's offsets and the oldest unconsumed record of
// each lagging partition from the brokers, which the sink shares.
const healthEvery = 2 * time.Second

// healthCache shares one probe of the pipeline among all views: a result
// younger than max(interval, healthEvery) is reused.
type healthCache struct {
	mu   sync.Mutex
	at   time.Time
	last *Pipeline
}

func (h *healthCache) get(ctx context.Context, s *Server) *Pipeline {
	if s.probe == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.last != nil && time.Since(h.at) < max(s.interval, healthEvery)-s.interval/2 {
		return h.last
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	p, err := s.probe(pctx)
	if err != nil {
		p = &Pipeline{LastInsertSeconds: -1, Groups: []GroupHealth{}, Errors: []string{err.Error()}}
	}
	if p.Groups == nil {
		p.Groups = []GroupHealth{}
	}
	h.last, h.at = p, time.Now()
	return p
}
