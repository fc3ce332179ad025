// Package schemas defines surge's event types, their JSON codec, validation and
// versions.
//
// Every record on a surge topic is one JSON object with two envelope fields:
//
//	"kind": "order" | "order_status" | "user_event" | "coupon"
//	"v":    schema version (currently 1)
//
// plus an "event_id" that is unique per logical event and is used for
// deduplication downstream. Records are keyed by user_id on Kafka so that one
// user's events keep their order end to end.
//
// Money is always an integer count of minor units (cents) in an ISO-4217
// currency; timestamps are RFC 3339 strings in JSON. Unknown JSON fields are
// ignored so that newer producers can talk to older consumers.
//
// # Wire format
//
// A record is one UTF-8 JSON object of at most MaxRecordBytes:
//
//	{"kind":"user_event","v":1,"event_id":"01JDQ3Z8M4X7N2K9P5R6T8V0WY",
//	 "user_id":"u-42","session_id":"s-7","type":"add_to_cart","sku":"SKU-1",
//	 "ts":"2024-11-29T08:00:00.123Z"}
//
// The fields are the json tags of Order, OrderStatus, UserEvent and Coupon.
// Encode and AppendJSON write "kind", "v" and "event_id" first and the rest
// in the order of the Go type, leave out empty optional fields (campaign_id,
// coupon_id, sku), write an empty Priority as "normal" and a zero Version as
// CurrentVersion, and write timestamps in UTC with exactly three fractional
// digits. Decode accepts any field order, RFC 3339 timestamps with or without
// fractional seconds and with any offset, and returns them in UTC truncated
// to the millisecond, so a decoded record encodes and decodes back to itself.
// Timestamps must have every RFC 3339 part at full width ("T08:00:00", not
// "T8:00:00") and no leap second.
//
// Decoding is strict about what surge reads and lenient about the rest:
//
//   - Unknown fields are ignored, at any depth. Keys match exactly (no case
//     folding). A key that appears twice in one object, at any depth, is an
//     error naming the field ("duplicate key"): a parser would keep the last
//     value and silently drop the first, which may be the invalid one.
//   - A \u escape of a lone UTF-16 surrogate (\ud800 without its low half)
//     is an error naming the field: it is not a character, and replacing it
//     with U+FFFD would make different invalid ids equal.
//   - A null value counts as an absent field.
//   - The input must be one JSON object, optionally surrounded by
//     whitespace, in valid UTF-8, nested at most MaxDepth levels deep. An
//     empty input, null, an array, truncated JSON or trailing data is an
//     error. A record over MaxRecordBytes fails with ErrTooLarge before it is
//     parsed.
//   - Decode reads the kind from "kind"; DecodeOrder and its siblings also
//     accept a record without "kind" and refuse one of another kind.
//
// # Rules
//
// Decode and Validate check the same rules, and report every broken rule (up
// to a limit) in one *ValidationError, each as a FieldError naming the field
// by its JSON path ("items[2].qty"). Every error matches ErrInvalid.
//
//   - Required fields must be present, not null and of the right JSON type
//     ("missing", "must be a string", "must be an integer", "must be an
//     array"); required strings must not be empty.
//   - "v" is an integer in 1..CurrentVersion. In Go, a zero Version means
//     CurrentVersion.
//   - Ids (event_id, order_id, user_id, session_id, coupon_id, campaign_id,
//     rule_id, trigger_event_id) and skus are at most MaxIDBytes bytes of
//     valid UTF-8 without control characters; any other Unicode is fine.
//   - Integers are JSON integers within int64: no fraction or exponent
//     ("1.0" and "1e3" are refused), no overflow.
//   - Money is never negative. Order: 1..MaxItems items, each with a sku,
//     qty > 0 and unit_price >= 0; amount > 0 and equal to the sum of
//     qty*unit_price, computed without overflow. Coupon: value > 0.
//   - currency is an active ISO 4217 code in upper case (ValidCurrency).
//   - Enumerations: priority is normal, vip or urgent (absent or empty means
//     normal); status is created, paid, cancelled or shipped; type is one of
//     the EventType constants. add_to_cart and remove_from_cart events need
//     a sku.
//   - Event times (created_at, ts, issued_at) are not before
//     2000-01-01T00:00:00Z and not more than MaxClockSkew (24h) in the future.
//     expires_at is after issued_at.
//
// # Versions
//
// The schema version is the "v" field. A build reads every version from 1 to
// CurrentVersion and writes CurrentVersion. Adding an optional field does not
// need a new version (old readers ignore it); changing the meaning or type of
// a field, or adding a required one, does.
package schemas

import "time"

// Kind names the type of a record; it is the "kind" field of every record.
type Kind string

// The record kinds surge knows.
const (
	KindOrder       Kind = "order"
	KindOrderStatus Kind = "order_status"
	KindUserEvent   Kind = "user_event"
	KindCoupon      Kind = "coupon"
)

// CurrentVersion is the schema version this build writes. Decoders accept
// every version in [1, CurrentVersion].
const CurrentVersion = 1

// Priority is an order's dispatch priority.
type Priority string

// Order priorities. Orders with PriorityVIP or PriorityUrgent go to the
// priority lane.
const (
	PriorityNormal Priority = "normal"
	PriorityVIP    Priority = "vip"
	PriorityUrgent Priority = "urgent"
)

// OrderStatusValue is the state an order moved to.
type OrderStatusValue string

// Order statuses.
const (
	StatusCreated   OrderStatusValue = "created"
	StatusPaid      OrderStatusValue = "paid"
	StatusCancelled OrderStatusValue = "cancelled"
	StatusShipped   OrderStatusValue = "shipped"
)

// EventType is the type of a UserEvent.
type EventType string

// User event types.
const (
	EventPageView        EventType = "page_view"
	EventSearch          EventType = "search"
	EventAddToCart       EventType = "add_to_cart"
	EventRemoveFromCart  EventType = "remove_from_cart"
	EventCheckoutStarted EventType = "checkout_started"
	EventCouponRedeemed  EventType = "coupon_redeemed"
)

// Record is implemented by every event type.
type Record interface {
	// Kind is the record's kind, as written in its "kind" field.
	Kind() Kind
	// ID is the record's event id, unique per logical event.
	ID() string
	// Key is the Kafka record key: the user id.
	Key() string
	// Time is the record's event time.
	Time() time.Time
}

// Item is one line of an order.
type Item struct {
	SKU       string `json:"sku"`
	Qty       int64  `json:"qty"`
	UnitPrice int64  `json:"unit_price"` // minor units
}

// Order is a placed order. Placing it is the "created" status event.
type Order struct {
	EventID    string    `json:"event_id"`
	Version    int       `json:"v"`
	OrderID    string    `json:"order_id"`
	UserID     string    `json:"user_id"`
	Items      []Item    `json:"items"`
	Amount     int64     `json:"amount"` // minor units; equals the sum of qty*unit_price
	Currency   string    `json:"currency"`
	CampaignID string    `json:"campaign_id,omitempty"`
	Priority   Priority  `json:"priority"`
	CouponID   string    `json:"coupon_id,omitempty"` // coupon redeemed on this order, if any
	CreatedAt  time.Time `json:"created_at"`
}

// OrderStatus records an order moving to a new status.
type OrderStatus struct {
	EventID string           `json:"event_id"`
	Version int              `json:"v"`
	OrderID string           `json:"order_id"`
	UserID  string           `json:"user_id"`
	Status  OrderStatusValue `json:"status"`
	// Priority is the order's priority, repeated so that the status change
	// travels in the same lane as the order. Empty means normal.
	Priority Priority  `json:"priority,omitempty"`
	TS       time.Time `json:"ts"`
}

// UserEvent is one thing a shopper did on the site or app.
type UserEvent struct {
	EventID    string    `json:"event_id"`
	Version    int       `json:"v"`
	UserID     string    `json:"user_id"`
	SessionID  string    `json:"session_id"`
	Type       EventType `json:"type"`
	SKU        string    `json:"sku,omitempty"`
	CampaignID string    `json:"campaign_id,omitempty"`
	TS         time.Time `json:"ts"`
}

// Coupon is a coupon issued to a user by a campaign rule.
type Coupon struct {
	EventID        string    `json:"event_id"`
	Version        int       `json:"v"`
	CouponID       string    `json:"coupon_id"`
	UserID         string    `json:"user_id"`
	CampaignID     string    `json:"campaign_id"`
	RuleID         string    `json:"rule_id"`
	Value          int64     `json:"value"` // minor units
	Currency       string    `json:"currency"`
	IssuedAt       time.Time `json:"issued_at"`
	ExpiresAt      time.Time `json:"expires_at"`
	TriggerEventID string    `json:"trigger_event_id"`
}

func (*Order) Kind() Kind         { return KindOrder }
func (o *Order) ID() string       { return o.EventID }
func (o *Order) Key() string      { return o.UserID }
func (o *Order) Time() time.Time  { return o.CreatedAt }
func (*OrderStatus) Kind() Kind   { return KindOrderStatus }
func (s *OrderStatus) ID() string { return s.EventID }
func (s *OrderStatus) Key() string {
	return s.UserID
}
func (s *OrderStatus) Time() time.Time { return s.TS }
func (*UserEvent) Kind() Kind          { return KindUserEvent }
func (e *UserEvent) ID() string        { return e.EventID }
func (e *UserEvent) Key() string       { return e.UserID }
func (e *UserEvent) Time() time.Time   { return e.TS }
func (*Coupon) Kind() Kind             { return KindCoupon }
func (c *Coupon) ID() string           { return c.EventID }
func (c *Coupon) Key() string          { return c.UserID }
func (c *Coupon) Time() time.Time      { return c.IssuedAt }

// Urgent reports whether p asks for the priority lane (vip or urgent).
func (p Priority) Urgent() bool { return p == PriorityVIP || p == PriorityUrgent }
