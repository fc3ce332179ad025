package analytics

import (
	"time"
	"unicode/utf8"

	"github.com/surgeio/surge/schemas"
)

// Source is where a record came from on Kafka. Every raw table row carries
// it in its kafka_topic, kafka_partition and kafka_offset columns.
type Source struct {
	Topic     string
	Partition int32
	Offset    int64
}

// Table names a raw table the sink writes.
type Table string

// The raw tables.
const (
	TableOrders      Table = "orders"
	TableOrderStatus Table = "order_status"
	TableUserEvents  Table = "user_events"
	TableCoupons     Table = "coupons"
	TableSinkRejects Table = "sink_rejects"
)

// Tables lists the tables the sink writes, in the order Write inserts into
// them (the dedup claims alongside the others, on a connection of their
// own).
var Tables = []Table{TableClaims, TableOrders, TableOrderStatus, TableUserEvents, TableCoupons,
	TableSinkRejects, TableDuplicates}

// MaxRejectRaw is how many bytes of a rejected record AddReject keeps.
const MaxRejectRaw = 4 << 10

// Batch buffers rows for the raw tables column by column, ready for Write.
// A Batch is not safe for concurrent use; Reset it to reuse its memory.
type Batch struct {
	orders   orderCols
	statuses statusCols
	events   eventCols
	coupons  couponCols
	rejects  rejectCols
	claims   claimCols
	dups     dupCols
	ingested []time.Time // scratch for the ingested_at column
	perm     permuter    // scratch for sorting rows (presort.go)
	// The claims' own scratch: Write sends them alongside the other tables.
	claimsIngested []time.Time
	claimsPerm     permuter
	claimsNative   []byte
	claimsShard    []uint64 // shard_key on a cluster
	// native is the other tables' scratch for their columns' native
	// encoding (fillNative): a table's largest column, kept.
	native []byte
}

// topicPart names one Kafka partition.
type topicPart struct {
	topic string
	part  int32
}

// partitionRuns calls fn for each run of p's rows of one partition, rows
// [from, to).
func partitionRuns(p *provenance, fn func(k topicPart, from, to int)) {
	for from := 0; from < len(p.offset); {
		k := topicPart{p.topic[from], p.partition[from]}
		to := from + 1
		for to < len(p.offset) && p.partition[to] == k.part && p.topic[to] == k.topic {
			to++
		}
		fn(k, from, to)
		from = to
	}
}

// provenance holds the Kafka columns every raw table ends with.
type provenance struct {
	topic     []string
	partition []int32
	offset    []int64
}

func (p *provenance) add(src Source) {
	p.topic = append(p.topic, src.Topic)
	p.partition = append(p.partition, src.Partition)
	p.offset = append(p.offset, src.Offset)
}

func (p *provenance) reset() {
	p.topic, p.partition, p.offset = p.topic[:0], p.partition[:0], p.offset[:0]
}

type orderCols struct {
	eventID, orderID, userID, currency, campaignID, priority, couponID []string
	v                                                                  []uint8
	amount, createdMs                                                  []int64
	createdAt                                                          []time.Time
	// Items are flattened: order i owns items itemEnd[i-1]:itemEnd[i].
	skus         []string
	qtys, prices []int64
	itemEnd      []int
	provenance
}

type statusCols struct {
	eventID, orderID, userID, status []string
	v                                []uint8
	ts                               []time.Time
	tsMs                             []int64
	provenance
}

type eventCols struct {
	eventID, userID, sessionID, typ, sku, campaignID []string
	v                                                []uint8
	ts                                               []time.Time
	tsMs                                             []int64
	provenance
}

type couponCols struct {
	eventID, couponID, userID, campaignID, ruleID, currency, triggerID []string
	v                                                                  []uint8
	value, issuedMs                                                    []int64
	issuedAt, expiresAt                                                []time.Time
	provenance
}

type rejectCols struct {
	reason, raw []string
	provenance
}

// NewBatch returns an empty batch.
func NewBatch() *Batch { return &Batch{} }

// AddOrder buffers one orders row.
func (b *Batch) AddOrder(src Source, o *schemas.Order) {
	c := &b.orders
	c.eventID = append(c.eventID, o.EventID)
	c.v = append(c.v, version(o.Version))
	c.orderID = append(c.orderID, o.OrderID)
	c.userID = append(c.userID, o.UserID)
	c.amount = append(c.amount, o.Amount)
	c.currency = append(c.currency, o.Currency)
	c.campaignID = append(c.campaignID, o.CampaignID)
	c.priority = append(c.priority, string(o.Priority))
	c.couponID = append(c.couponID, o.CouponID)
	for _, it := range o.Items {
		c.skus = append(c.skus, it.SKU)
		c.qtys = append(c.qtys, it.Qty)
		c.prices = append(c.prices, it.UnitPrice)
	}
	c.itemEnd = append(c.itemEnd, len(c.skus))
	c.createdAt = append(c.createdAt, dateTime(o.CreatedAt))
	c.createdMs = append(c.createdMs, millis(o.CreatedAt))
	c.add(src)
}

// AddOrderStatus buffers one order_status row.
func (b *Batch) AddOrderStatus(src Source, s *schemas.OrderStatus) {
	c := &b.statuses
	c.eventID = append(c.eventID, s.EventID)
	c.v = append(c.v, version(s.Version))
	c.orderID = append(c.orderID, s.OrderID)
	c.userID = append(c.userID, s.UserID)
	c.status = append(c.status, string(s.Status))
	c.ts = append(c.ts, dateTime(s.TS))
	c.tsMs = append(c.tsMs, millis(s.TS))
	c.add(src)
}

// AddUserEvent buffers one user_events row.
func (b *Batch) AddUserEvent(src Source, e *schemas.UserEvent) {
	c := &b.events
	c.eventID = append(c.eventID, e.EventID)
	c.v = append(c.v, version(e.Version))
	c.userID = append(c.userID, e.UserID)
	c.sessionID = append(c.sessionID, e.SessionID)
	c.typ = append(c.typ, string(e.Type))
	c.sku = append(c.sku, e.SKU)
	c.campaignID = append(c.campaignID, e.CampaignID)
	c.ts = append(c.ts, dateTime(e.TS))
	c.tsMs = append(c.tsMs, millis(e.TS))
	c.add(src)
}

// AddCoupon buffers one coupons row.
func (b *Batch) AddCoupon(src Source, cp *schemas.Coupon) {
	c := &b.coupons
	c.eventID = append(c.eventID, cp.EventID)
	c.v = append(c.v, version(cp.Version))
	c.couponID = append(c.couponID, cp.CouponID)
	c.userID = append(c.userID, cp.UserID)
	c.campaignID = append(c.campaignID, cp.CampaignID)
	c.ruleID = append(c.ruleID, cp.RuleID)
	c.value = append(c.value, cp.Value)
	c.currency = append(c.currency, cp.Currency)
	c.issuedAt = append(c.issuedAt, dateTime(cp.IssuedAt))
	c.issuedMs = append(c.issuedMs, millis(cp.IssuedAt))
	c.expiresAt = append(c.expiresAt, dateTime(cp.ExpiresAt))
	c.triggerID = append(c.triggerID, cp.TriggerEventID)
	c.add(src)
}

// AddReject buffers one sink_rejects row: a record that could not be
// decoded or validated, with the reason and its first MaxRejectRaw bytes
// (cut back to a whole UTF-8 character where the cut falls inside one).
func (b *Batch) AddReject(src Source, reason string, raw []byte) {
	if len(raw) > MaxRejectRaw {
		n := MaxRejectRaw
		for i := 0; i < utf8.UTFMax && n > 0 && !utf8.RuneStart(raw[n]); i++ {
			n--
		}
		raw = raw[:n]
	}
	c := &b.rejects
	c.reason = append(c.reason, reason)
	c.raw = append(c.raw, string(raw))
	c.add(src)
}

// prov returns table t's provenance columns, nil for a table the batch
// does not buffer. Every table of Tables must have its case here: the
// sink's write-ahead marks (Ranges) are computed from it.
func (b *Batch) prov(t Table) *provenance {
	switch t {
	case TableOrders:
		return &b.orders.provenance
	case TableOrderStatus:
		return &b.statuses.provenance
	case TableUserEvents:
		return &b.events.provenance
	case TableCoupons:
		return &b.coupons.provenance
	case TableSinkRejects:
		return &b.rejects.provenance
	case TableClaims:
		return &b.claims.provenance
	case TableDuplicates:
		return &b.dups.provenance
	}
	return nil
}

// Len is the number of rows buffered over all tables.
func (b *Batch) Len() int {
	return len(b.orders.offset) + len(b.statuses.offset) + len(b.events.offset) +
		len(b.coupons.offset) + len(b.rejects.offset) + len(b.claims.offset) + len(b.dups.offset)
}

// TableLen is the number of rows buffered for table t.
func (b *Batch) TableLen(t Table) int {
	switch t {
	case TableOrders:
		return len(b.orders.offset)
	case TableOrderStatus:
		return len(b.statuses.offset)
	case TableUserEvents:
		return len(b.events.offset)
	case TableCoupons:
		return len(b.coupons.offset)
	case TableSinkRejects:
		return len(b.rejects.offset)
	case TableClaims:
		return len(b.claims.offset)
	case TableDuplicates:
		return len(b.dups.offset)
	}
	return 0
}

// Reset empties the batch and keeps its memory for the next rows.
func (b *Batch) Reset() {
	o := &b.orders
	o.eventID, o.orderID, o.userID, o.currency = o.eventID[:0], o.orderID[:0], o.userID[:0], o.currency[:0]
	o.campaignID, o.priority, o.couponID, o.v = o.campaignID[:0], o.priority[:0], o.couponID[:0], o.v[:0]
	o.amount, o.createdMs, o.createdAt = o.amount[:0], o.createdMs[:0], o.createdAt[:0]
	o.skus, o.qtys, o.prices, o.itemEnd = o.skus[:0], o.qtys[:0], o.prices[:0], o.itemEnd[:0]
	o.reset()

	s := &b.statuses
	s.eventID, s.orderID, s.userID, s.status = s.eventID[:0], s.orderID[:0], s.userID[:0], s.status[:0]
	s.v, s.ts, s.tsMs = s.v[:0], s.ts[:0], s.tsMs[:0]
	s.reset()

	e := &b.events
	e.eventID, e.userID, e.sessionID, e.typ = e.eventID[:0], e.userID[:0], e.sessionID[:0], e.typ[:0]
	e.sku, e.campaignID, e.v, e.ts, e.tsMs = e.sku[:0], e.campaignID[:0], e.v[:0], e.ts[:0], e.tsMs[:0]
	e.reset()

	c := &b.coupons
	c.eventID, c.couponID, c.userID, c.campaignID = c.eventID[:0], c.couponID[:0], c.userID[:0], c.campaignID[:0]
	c.ruleID, c.currency, c.triggerID, c.v = c.ruleID[:0], c.currency[:0], c.triggerID[:0], c.v[:0]
	c.value, c.issuedMs, c.issuedAt, c.expiresAt = c.value[:0], c.issuedMs[:0], c.issuedAt[:0], c.expiresAt[:0]
	c.reset()

	r := &b.rejects
	r.reason, r.raw = r.reason[:0], r.raw[:0]
	r.reset()

	b.claims.reset()
	b.dups.reset()
}

// DateTime holds whole seconds from 1970-01-01 to 2106-02-07 (UTC).
var (
	minDateTime = time.Unix(0, 0).UTC()
	maxDateTime = time.Unix(1<<32-1, 0).UTC()
)

// dateTime returns t clamped to the DateTime range; the zero time becomes
// 1970-01-01 00:00:00.
func dateTime(t time.Time) time.Time {
	switch {
	case t.Before(minDateTime):
		return minDateTime
	case t.After(maxDateTime):
		return maxDateTime
	}
	return t
}

// millis is t in Unix milliseconds; the zero time becomes 0.
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// version clamps a schema version into UInt8.
func version(v int) uint8 {
	switch {
	case v < 0:
		return 0
	case v > 255:
		return 255
	}
	return uint8(v)
}
