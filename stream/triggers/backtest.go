package triggers

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream/triggers/rules"
)

// BacktestResult is what a rule set would have issued over a past range.
type BacktestResult struct {
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Events int64     `json:"events"`
	Late   int64     `json:"late"`
	// BudgetRefusals counts fires refused because a budget share was spent.
	BudgetRefusals int64            `json:"budget_refusals"`
	Partitions     int32            `json:"partitions"`
	Rules          []BacktestRule   `json:"rules"`
	Hours          []BacktestHourly `json:"hours"`
}

// BacktestRule is one rule's total.
type BacktestRule struct {
	Rule     string `json:"rule"`
	Campaign string `json:"campaign"`
	Coupons  int64  `json:"coupons"`
	Value    int64  `json:"value"`
	Currency string `json:"currency"`
	// BudgetUsed is the share of the rule's budget spent (0..1), the larger
	// of the coupon and value shares; 0 when it has no budget.
	BudgetUsed float64 `json:"budget_used"`
}

// BacktestHourly is one rule's spend in one hour (by coupon issue time).
type BacktestHourly struct {
	Hour       time.Time `json:"hour"`
	Rule       string    `json:"rule"`
	Coupons    int64     `json:"coupons"`
	Value      int64     `json:"value"`
	BudgetUsed float64   `json:"budget_used"` // cumulative, as BacktestRule.BudgetUsed
}

// backtestQuery reads every event of [from, to) in event-time order. Only
// the raw tables the sink writes are read.
const backtestQuery = `
SELECT user_id, ts_ms, src, type, sku, campaign_id, amount, currency, priority, event_id
FROM
(
    SELECT user_id, ts_ms, 'e' AS src, type, sku, campaign_id, toInt64(0) AS amount,
        '' AS currency, '' AS priority, event_id
    FROM user_events WHERE ts >= toDateTime(?) AND ts < toDateTime(?)
    UNION ALL
    SELECT user_id, created_at_ms AS ts_ms, 'o' AS src, 'order' AS type, arrayStringConcat(item_skus, ',') AS sku,
        campaign_id, amount, currency, priority, event_id
    FROM orders WHERE created_at >= toDateTime(?) AND created_at < toDateTime(?)
    UNION ALL
    SELECT user_id, ts_ms, 's' AS src, concat('order_', status) AS type, '' AS sku, '' AS campaign_id,
        toInt64(0) AS amount, '' AS currency, '' AS priority, event_id
    FROM order_status WHERE status != 'created' AND ts >= toDateTime(?) AND ts < toDateTime(?)
)
ORDER BY ts_ms, user_id, event_id`

// Backtest replays [from, to) from ClickHouse through set with the same
// engine the live triggers run: users are split over partitions partitions
// exactly as Kafka splits them (so budget shares match a live run with that
// many partitions), each partition's watermark follows the events, and
// timers still pending at the end fire when the watermark passes them.
func Backtest(ctx context.Context, ch *analytics.Conn, set *rules.Set, from, to time.Time, partitions int32) (*BacktestResult, error) {
	if !from.Before(to) {
		return nil, fmt.Errorf("backtest: from %s is not before to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	partitions = max(partitions, 1)
	parts := make([]*rules.Partition, partitions)
	for i := range parts {
		parts[i] = rules.NewPartition(set, int32(i), partitions, 0)
	}
	byKey := kgo.StickyKeyPartitioner(nil).ForTopic("backtest")
	f, t := from.Unix(), to.Unix()
	rows, err := ch.DB().Query(ctx, backtestQuery, f, t, f, t, f, t)
	if err != nil {
		return nil, fmt.Errorf("backtest query: %w", err)
	}
	defer rows.Close()
	res := &BacktestResult{From: from.UTC(), To: to.UTC(), Partitions: partitions}
	var issues []rules.Issue
	rec := &kgo.Record{}
	for rows.Next() {
		var (
			ev                 rules.Event
			src, sku, priority string
		)
		if err := rows.Scan(&ev.User, &ev.TS, &src, &ev.Type, &sku, &ev.Campaign, &ev.Amount, &ev.Currency, &priority, &ev.ID); err != nil {
			return nil, fmt.Errorf("backtest scan: %w", err)
		}
		ch := rules.ChannelUserEvents
		switch src {
		case "e":
			ev.SKU = sku
		case "o", "s":
			ch = rules.ChannelOrders
			ev.VIP = priority == "vip" || priority == "urgent"
			ev.Items = splitItems(sku)
		}
		rec.Key = []byte(ev.User)
		p := parts[byKey.Partition(rec, int(partitions))]
		var late bool
		issues, late = p.Replay(&ev, ch, issues)
		if late {
			res.Late++
		}
		res.Events++
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("backtest read: %w", err)
	}
	end := to.UnixMilli() + set.Longest().Milliseconds() + set.Lateness.Milliseconds()
	for _, p := range parts {
		issues = p.AdvanceTo(end, issues)
	}
	summarize(res, set, parts, issues)
	return res, nil
}

func splitItems(skus string) []schemas.Item {
	if skus == "" {
		return nil
	}
	var items []schemas.Item
	start := 0
	for i := 0; i <= len(skus); i++ {
		if i == len(skus) || skus[i] == ',' {
			items = append(items, schemas.Item{SKU: skus[start:i]})
			start = i + 1
		}
	}
	return items
}

func summarize(res *BacktestResult, set *rules.Set, parts []*rules.Partition, issues []rules.Issue) {
	sort.SliceStable(issues, func(i, j int) bool { return issues[i].IssuedAt < issues[j].IssuedAt })
	totals := map[string]*BacktestRule{}
	for _, r := range set.Enabled() {
		totals[r.ID] = &BacktestRule{Rule: r.ID, Campaign: r.Campaign.ID, Currency: r.Coupon.Currency}
	}
	used := func(r *rules.Rule, coupons, value int64) float64 {
		var u float64
		if r.Budget.Coupons > 0 {
			u = float64(coupons) / float64(r.Budget.Coupons)
		}
		if r.Budget.Value > 0 {
			u = max(u, float64(value)/float64(r.Budget.Value))
		}
		return u
	}
	hourly := map[string]*BacktestHourly{}
	var order []string
	for _, is := range issues {
		tot := totals[is.Rule]
		r := set.Rule(is.Rule)
		if tot == nil || r == nil {
			continue
		}
		tot.Coupons++
		tot.Value += is.Value
		hour := time.UnixMilli(is.IssuedAt).UTC().Truncate(time.Hour)
		k := hour.Format(time.RFC3339) + "/" + is.Rule
		h := hourly[k]
		if h == nil {
			h = &BacktestHourly{Hour: hour, Rule: is.Rule}
			hourly[k] = h
			order = append(order, k)
		}
		h.Coupons++
		h.Value += is.Value
		h.BudgetUsed = used(r, tot.Coupons, tot.Value)
	}
	for _, p := range parts {
		res.BudgetRefusals += p.Stats.BudgetExhausted
	}
	for _, r := range set.Enabled() {
		tot := totals[r.ID]
		tot.BudgetUsed = used(r, tot.Coupons, tot.Value)
		res.Rules = append(res.Rules, *tot)
	}
	sort.Strings(order)
	for _, k := range order {
		res.Hours = append(res.Hours, *hourly[k])
	}
}
