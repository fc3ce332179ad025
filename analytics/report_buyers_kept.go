package analytics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Parts kept in memory
//
// A part never changes once written: merges write new parts under new
// names. So a Conn made to keep them (KeepBuyersParts; the campaign
// page's server does) holds campaign_buyers' active parts in memory once
// it has read each (every shopper's campaign, currency and order minutes,
// about 100 bytes a row) and counts buyers there: loops over the rows
// instead of a query that reads and filters every row, and a query per
// report only to list the parts. A new part is read once, when it first
// shows up; a part that is merged away is dropped.
//
// The count is the formula of report_buyers.go over one listing of the
// parts, which is a snapshot of the table: the largest part's shoppers
// with an order minute in the range, plus the other parts' shoppers with
// one that the largest part does not count. If a listed part is merged
// away before it is read, the listing is taken again. For the largest
// part the first and last minutes of each campaign and currency's rows
// are kept sorted, so an open range ("the last hour") is two binary
// searches; the other parts are merged by shopper once per listing, each
// shopper with its row in the largest part.
//
// Beyond maxKeptRows rows in all parts the count runs in SQL (memory).

// maxKeptRows bounds the rows of the parts a Conn keeps: about 200 MB.
var maxKeptRows uint64 = 2_000_000

// errPartGone is returned by readPart for a part merged away meanwhile.
var errPartGone = errors.New("part merged away")

// keptPart is one campaign_buyers part in memory.
type keptPart struct {
	partInfo
	pairs   []pairKey // the part's campaign and currency pairs
	pairIdx map[pairKey]int32
	pairOf  []int32  // per row: its pair
	users   []string // per row
	offsets []int32  // per row i: its minutes are minutes[offsets[i]:offsets[i+1]]
	minutes []uint32 // order minutes, Unix seconds

	indexOnce sync.Once
	index     map[shopper]int32 // row of each shopper, built when the part is the largest
	spanOnce  sync.Once
	spans     []pairSpans // per pair, built when the part is the largest
}

// pairSpans are the first and the last order minute of a pair's rows in a
// part, each sorted: the rows with an order at or after from are those
// whose last minute is, and the rows with one before to those whose first
// minute is.
type pairSpans struct{ firsts, lasts []uint32 }

func (k *keptPart) pairSpans() []pairSpans {
	k.spanOnce.Do(func() {
		k.spans = make([]pairSpans, len(k.pairs))
		for i, pi := range k.pairOf {
			mins := k.mins(i)
			if len(mins) == 0 {
				continue
			}
			lo, hi := mins[0], mins[0]
			for _, m := range mins[1:] {
				lo, hi = min(lo, m), max(hi, m)
			}
			sp := &k.spans[pi]
			sp.firsts, sp.lasts = append(sp.firsts, lo), append(sp.lasts, hi)
		}
		for i := range k.spans {
			slices.Sort(k.spans[i].firsts)
			slices.Sort(k.spans[i].lasts)
		}
	})
	return k.spans
}

// tailRows is the rows of the parts other than the largest, one per
// shopper, each with all its minutes in those parts and its row in the
// largest part (-1: none).
type tailRows struct {
	key     string // the largest part and the other parts' names
	pairs   []pairKey
	users   []string
	mins    [][]uint32
	headRow []int32
}

func tailKey(parts []*keptPart) string {
	var b strings.Builder
	for _, k := range parts {
		b.WriteString(k.name)
		b.WriteByte(0)
	}
	return b.String()
}

// buildTail merges parts[1:] by shopper.
func buildTail(parts []*keptPart) *tailRows {
	t := &tailRows{key: tailKey(parts)}
	head := parts[0]
	type key struct{ campaign, currency, user string }
	at := make(map[key]int)
	for _, k := range parts[1:] {
		for i, pi := range k.pairOf {
			pk := k.pairs[pi]
			sk := key{pk.campaign, pk.currency, k.users[i]}
			if j, ok := at[sk]; ok {
				t.mins[j] = append(t.mins[j], k.mins(i)...)
				continue
			}
			at[sk] = len(t.users)
			hr := int32(-1)
			if j, ok := head.rowOf(pk, k.users[i]); ok {
				hr = int32(j)
			}
			t.pairs = append(t.pairs, pk)
			t.users = append(t.users, k.users[i])
			t.mins = append(t.mins, append([]uint32(nil), k.mins(i)...))
			t.headRow = append(t.headRow, hr)
		}
	}
	return t
}

type pairKey struct{ campaign, currency string }

type shopper struct {
	pair int32
	user string
}

// same reports whether pi lists this part.
func (k *keptPart) same(pi partInfo) bool {
	return k.name == pi.name && k.rows == pi.rows && k.modified.Equal(pi.modified)
}

func (k *keptPart) mins(i int) []uint32 { return k.minutes[k.offsets[i]:k.offsets[i+1]] }

func (k *keptPart) rowOf(pk pairKey, user string) (int, bool) {
	k.indexOnce.Do(func() {
		k.index = make(map[shopper]int32, len(k.users))
		for i, u := range k.users {
			k.index[shopper{k.pairOf[i], u}] = int32(i)
		}
	})
	pi, ok := k.pairIdx[pk]
	if !ok {
		return 0, false
	}
	i, ok := k.index[shopper{pi, user}]
	return int(i), ok
}

// keptCache is the parts a Conn keeps, by name, and the merged rows of
// the parts other than the largest of the last listing.
type keptCache struct {
	on    bool
	mu    sync.Mutex
	parts map[string]*keptPart
	tail  *tailRows
}

// KeepBuyersParts makes c keep campaign_buyers' parts in memory and count
// campaign-summary's buyers there (see report_buyers_kept.go): for a
// long-lived reader polling the report, such as the campaign page's
// server. The answers are the same; a one-off report is quicker without.
// Call it before the first report.
func (c *Conn) KeepBuyersParts() { c.kept.on = true }

// keptParts returns env's parts in memory, reading the ones not kept yet
// and dropping the kept ones no longer listed. ok is false when the
// parts are too many rows to keep.
func (c *Conn) keptParts(ctx context.Context, env queryEnv) (parts []*keptPart, ok bool, err error) {
	var total uint64
	for _, pi := range env.parts {
		total += pi.rows
	}
	c.kept.mu.Lock()
	defer c.kept.mu.Unlock()
	if total > maxKeptRows {
		c.kept.parts, c.kept.tail = nil, nil // too many to keep: let them go
		return nil, false, nil
	}
	keep := make(map[string]*keptPart, len(env.parts))
	for _, pi := range env.parts {
		k := c.kept.parts[pi.name]
		if k == nil || !k.same(pi) {
			if k, err = c.readPart(ctx, pi); err != nil {
				return nil, true, err
			}
		}
		keep[pi.name] = k
		parts = append(parts, k)
	}
	c.kept.parts = keep
	return parts, true, nil
}

// tailOf returns the merged rows of parts[1:], made again when the parts
// changed.
func (c *Conn) tailOf(parts []*keptPart) *tailRows {
	c.kept.mu.Lock()
	defer c.kept.mu.Unlock()
	if t := c.kept.tail; t != nil && t.key == tailKey(parts) {
		return t
	}
	c.kept.tail = buildTail(parts)
	return c.kept.tail
}

// readPart reads one part of campaign_buyers.
func (c *Conn) readPart(ctx context.Context, pi partInfo) (*keptPart, error) {
	rows, err := c.db.Query(ctx, `
SELECT campaign_id, currency, user_id, arrayMap(m -> toUInt32(m), ordersMap.minute)
FROM `+buyersTable+`
WHERE _part = ?`, pi.name)
	if err != nil {
		return nil, fmt.Errorf("read part %s of %s: %w", pi.name, buyersTable, err)
	}
	defer rows.Close()
	k := &keptPart{partInfo: pi, pairIdx: map[pairKey]int32{},
		pairOf: make([]int32, 0, pi.rows), users: make([]string, 0, pi.rows), offsets: make([]int32, 1, pi.rows+1)}
	var (
		campaign, currency, user string
		mins                     []uint32
	)
	for rows.Next() {
		if err := rows.Scan(&campaign, &currency, &user, &mins); err != nil {
			return nil, fmt.Errorf("read part %s of %s: %w", pi.name, buyersTable, err)
		}
		pk := pairKey{campaign, currency}
		p, ok := k.pairIdx[pk]
		if !ok {
			p = int32(len(k.pairs))
			k.pairs = append(k.pairs, pk)
			k.pairIdx[pk] = p
		}
		k.pairOf = append(k.pairOf, p)
		k.users = append(k.users, user)
		k.minutes = append(k.minutes, mins...)
		k.offsets = append(k.offsets, int32(len(k.minutes)))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read part %s of %s: %w", pi.name, buyersTable, err)
	}
	if uint64(len(k.users)) != pi.rows {
		return nil, fmt.Errorf("read part %s of %s: %d rows of %d: %w", pi.name, buyersTable, len(k.users), pi.rows, errPartGone)
	}
	return k, nil
}

// minuteRange is [from, to) in Unix seconds; 0 is unbounded.
type minuteRange struct{ from, to int64 }

func (r minuteRange) hit(mins []uint32) bool {
	for _, m := range mins {
		if (r.from == 0 || int64(m) >= r.from) && (r.to == 0 || int64(m) < r.to) {
			return true
		}
	}
	return false
}

func rangeOf(p ReportParams) minuteRange {
	var r minuteRange
	if !p.From.IsZero() {
		r.from = dateTime(p.From).Unix()
	}
	if !p.To.IsZero() {
		r.to = dateTime(p.To).Unix()
	}
	return r
}

// keptBuyers counts p's buyers per campaign and currency over parts, the
// largest first, and tail, the other parts' rows merged by shopper: the
// largest part's shoppers with an order in the range, plus the other
// shoppers with one that the largest part does not count.
func keptBuyers(parts []*keptPart, tail *tailRows, p ReportParams) map[pairKey]uint64 {
	out := make(map[pairKey]uint64)
	if len(parts) == 0 {
		return out
	}
	r := rangeOf(p)
	head := parts[0]
	var spans []pairSpans
	if r.from == 0 || r.to == 0 {
		spans = head.pairSpans()
	}
	counts := make([]uint64, len(head.pairs))
	for pi, pk := range head.pairs {
		if p.Campaign != "" && pk.campaign != p.Campaign {
			continue
		}
		switch {
		case r.from == 0 && r.to == 0:
			counts[pi] = uint64(len(spans[pi].lasts))
		case r.to == 0: // last minute >= from
			ls := spans[pi].lasts
			i, _ := slices.BinarySearch(ls, uint32(max(r.from, 0)))
			counts[pi] = uint64(len(ls) - i)
		case r.from == 0: // first minute < to
			i, _ := slices.BinarySearch(spans[pi].firsts, uint32(max(r.to, 0)))
			counts[pi] = uint64(i)
		}
	}
	if r.from != 0 && r.to != 0 {
		for i, pi := range head.pairOf {
			if (p.Campaign == "" || head.pairs[pi].campaign == p.Campaign) && r.hit(head.mins(i)) {
				counts[pi]++
			}
		}
	}
	for pi, n := range counts {
		if n > 0 {
			out[head.pairs[pi]] = n
		}
	}
	for i, pk := range tail.pairs {
		if p.Campaign != "" && pk.campaign != p.Campaign || !r.hit(tail.mins[i]) {
			continue
		}
		if hr := tail.headRow[i]; hr >= 0 && r.hit(head.mins(int(hr))) {
			continue // counted with the largest part
		}
		out[pk]++
	}
	return out
}

// buyersInMemory counts p's buyers over the parts c keeps, reading what
// it lacks; ok is false when the parts are too many rows to keep.
func (c *Conn) buyersInMemory(ctx context.Context, env queryEnv, p ReportParams) (map[pairKey]uint64, bool, error) {
	for attempt := 0; ; attempt++ {
		parts, ok, err := c.keptParts(ctx, env)
		switch {
		case !ok:
			return nil, false, nil
		case err == nil && len(parts) == 0:
			return map[pairKey]uint64{}, true, nil
		case err == nil:
			return keptBuyers(parts, c.tailOf(parts), p), true, nil
		case !errors.Is(err, errPartGone) || attempt == 3:
			return nil, true, err
		}
		if env, err = c.buyersEnv(ctx); err != nil { // list the parts again
			return nil, true, err
		}
	}
}

// fillBuyers sets the buyers column of res's rows (campaign, currency,
// ...) from buyers. A result without those columns is an error, not a
// page of zero buyers.
func fillBuyers(res *ReportResult, buyers map[pairKey]uint64) error {
	ci, ki, bi := -1, -1, -1
	for i, col := range res.Columns {
		switch col {
		case "campaign":
			ci = i
		case "currency":
			ki = i
		case "buyers":
			bi = i
		}
	}
	if ci < 0 || ki < 0 || bi < 0 {
		return fmt.Errorf("buyers from kept parts: result has columns %v, want campaign, currency and buyers", res.Columns)
	}
	for _, row := range res.Rows {
		c, _ := row[ci].(string)
		k, _ := row[ki].(string)
		row[bi] = buyers[pairKey{c, k}]
	}
	return nil
}
