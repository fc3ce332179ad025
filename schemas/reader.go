package schemas

import (
	"bytes"
	"time"

	"github.com/segmentio/encoding/json"
)

// Reader decodes records exactly like Decode (the same checks, the same
// errors) without allocating for records in canonical form: it reuses one
// record of each kind between calls, and their strings alias the input. It
// is for hot loops that copy what they keep, such as the coupon triggers.
//
// The Record that Read returns, its strings and its Items are valid only
// until the next Read and while data is neither changed nor freed. A Reader
// is not safe for concurrent use; its zero value is ready.
type Reader struct {
	userEvent   UserEvent
	order       Order
	orderStatus OrderStatus
	coupon      Coupon
	now         time.Time
	latest      int64 // latestMs(now)
}

// SetNow fixes the time the "not more than MaxClockSkew in the future"
// check of later Reads measures from (by default the time of each Read),
// so that a batch of records is checked against one clock reading.
func (r *Reader) SetNow(now time.Time) { r.now, r.latest = now, latestMs(now) }

// Read decodes and checks one record of any kind, like Decode.
func (r *Reader) Read(data []byte) (Record, error) {
	now, c := r.now, canon{latest: r.latest, alias: true}
	if now.IsZero() {
		now = nowFunc()
		c.latest = latestMs(now)
	}
	k, ok := c.start(data, "")
	if !ok {
		return decodeGeneral(data, "", now)
	}
	var rec Record
	switch k {
	case KindUserEvent:
		c.userEvent(&r.userEvent)
		rec = &r.userEvent
	case KindOrder:
		c.order(&r.order)
		rec = &r.order
	case KindOrderStatus:
		c.orderStatus(&r.orderStatus)
		rec = &r.orderStatus
	case KindCoupon:
		c.coupon(&r.coupon)
		rec = &r.coupon
	}
	if !c.done(rec, now) {
		return decodeGeneral(data, "", now)
	}
	return rec, nil
}

// EventID returns the "event_id" string at the top level of an encoded
// record without checking the rest of it, whatever its spacing, key order
// or escapes (`"event_id": "…"` as Python's json.dumps writes it, too).
// It is "" when the record has no event id, it is not a string, or data is
// not a JSON object. Records in canonical form are read by the canonical
// scanner, others by the general parser.
func EventID(data []byte) string {
	var c canon
	if _, ok := c.start(data, ""); ok {
		c.s.Version()
		c.s.Lit(`,"event_id":"`)
		start, end := c.s.Str()
		if !c.s.Bad() {
			return string(data[start:end])
		}
	}
	raw, err := parse(data, "")
	if err != nil {
		return ""
	}
	defer releaseRaw(raw)
	if absent(raw.EventID) || raw.EventID[0] != '"' {
		return ""
	}
	in := raw.EventID[1 : len(raw.EventID)-1]
	if bytes.IndexByte(in, '\\') < 0 {
		return string(in)
	}
	var id string
	if err := json.Unmarshal(raw.EventID, &id); err != nil {
		return "" // unreachable: parse checked the JSON
	}
	return id
}
