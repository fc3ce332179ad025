package schemas

import (
	"strconv"
	"time"

	"github.com/segmentio/encoding/json"
)

// Encode validates r and returns its JSON form; see AppendJSON.
func Encode(r Record) ([]byte, error) {
	return AppendJSON(make([]byte, 0, encodedSizeHint(r)), r)
}

// AppendJSON validates r and appends its JSON form to dst. The object starts
// with "kind", "v" (CurrentVersion when r's Version is zero) and "event_id",
// followed by the fields in the order of the Go type; optional fields that are
// empty are left out, an empty Priority is written as "normal", and
// timestamps are written in UTC with millisecond precision
// ("2024-11-29T08:00:00.000Z"). On error dst is returned unchanged.
func AppendJSON(dst []byte, r Record) ([]byte, error) {
	if err := Validate(r); err != nil {
		return dst, err
	}
	start := len(dst)
	b := dst
	switch v := r.(type) {
	case *Order:
		b = appendOrder(b, v)
	case *OrderStatus:
		b = appendOrderStatus(b, v)
	case *UserEvent:
		b = appendUserEvent(b, v)
	case *Coupon:
		b = appendCoupon(b, v)
	}
	if n := len(b) - start; n > MaxRecordBytes {
		return dst[:start], &tooLargeError{size: n}
	}
	return b, nil
}

func encodedSizeHint(r Record) int {
	if o, ok := r.(*Order); ok && o != nil {
		return 256 + 64*len(o.Items)
	}
	return 256
}

func appendHead(b []byte, kind string, v int, eventID string) []byte {
	b = append(b, `{"kind":"`...)
	b = append(b, kind...)
	b = append(b, `","v":`...)
	if v == 0 {
		v = CurrentVersion
	}
	b = strconv.AppendInt(b, int64(v), 10)
	b = append(b, `,"event_id":`...)
	return appendString(b, eventID)
}

func appendOrder(b []byte, o *Order) []byte {
	b = appendHead(b, string(KindOrder), o.Version, o.EventID)
	b = appendStringField(b, `,"order_id":`, o.OrderID)
	b = appendStringField(b, `,"user_id":`, o.UserID)
	b = append(b, `,"items":[`...)
	for i := range o.Items {
		it := &o.Items[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"sku":`...)
		b = appendString(b, it.SKU)
		b = append(b, `,"qty":`...)
		b = strconv.AppendInt(b, it.Qty, 10)
		b = append(b, `,"unit_price":`...)
		b = strconv.AppendInt(b, it.UnitPrice, 10)
		b = append(b, '}')
	}
	b = append(b, `],"amount":`...)
	b = strconv.AppendInt(b, o.Amount, 10)
	b = appendStringField(b, `,"currency":`, o.Currency)
	if o.CampaignID != "" {
		b = appendStringField(b, `,"campaign_id":`, o.CampaignID)
	}
	p := o.Priority
	if p == "" {
		p = PriorityNormal
	}
	b = appendStringField(b, `,"priority":`, string(p))
	if o.CouponID != "" {
		b = appendStringField(b, `,"coupon_id":`, o.CouponID)
	}
	b = appendTimeField(b, `,"created_at":`, o.CreatedAt)
	return append(b, '}')
}

func appendOrderStatus(b []byte, s *OrderStatus) []byte {
	b = appendHead(b, string(KindOrderStatus), s.Version, s.EventID)
	b = appendStringField(b, `,"order_id":`, s.OrderID)
	b = appendStringField(b, `,"user_id":`, s.UserID)
	b = appendStringField(b, `,"status":`, string(s.Status))
	if s.Priority != "" {
		b = appendStringField(b, `,"priority":`, string(s.Priority))
	}
	b = appendTimeField(b, `,"ts":`, s.TS)
	return append(b, '}')
}

func appendUserEvent(b []byte, e *UserEvent) []byte {
	b = appendHead(b, string(KindUserEvent), e.Version, e.EventID)
	b = appendStringField(b, `,"user_id":`, e.UserID)
	b = appendStringField(b, `,"session_id":`, e.SessionID)
	b = appendStringField(b, `,"type":`, string(e.Type))
	if e.SKU != "" {
		b = appendStringField(b, `,"sku":`, e.SKU)
	}
	if e.CampaignID != "" {
		b = appendStringField(b, `,"campaign_id":`, e.CampaignID)
	}
	b = appendTimeField(b, `,"ts":`, e.TS)
	return append(b, '}')
}

func appendCoupon(b []byte, c *Coupon) []byte {
	b = appendHead(b, string(KindCoupon), c.Version, c.EventID)
	b = appendStringField(b, `,"coupon_id":`, c.CouponID)
	b = appendStringField(b, `,"user_id":`, c.UserID)
	b = appendStringField(b, `,"campaign_id":`, c.CampaignID)
	b = appendStringField(b, `,"rule_id":`, c.RuleID)
	b = append(b, `,"value":`...)
	b = strconv.AppendInt(b, c.Value, 10)
	b = appendStringField(b, `,"currency":`, c.Currency)
	b = appendTimeField(b, `,"issued_at":`, c.IssuedAt)
	b = appendTimeField(b, `,"expires_at":`, c.ExpiresAt)
	b = appendStringField(b, `,"trigger_event_id":`, c.TriggerEventID)
	return append(b, '}')
}

func appendStringField(b []byte, key, s string) []byte {
	return appendString(append(b, key...), s)
}

// appendString appends s as a JSON string. Printable ASCII without quotes or
// backslashes is copied as is; anything else goes through segmentio's escaper
// (without HTML escaping).
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return json.AppendEscape(b, s, 0)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendTimeField(b []byte, key string, t time.Time) []byte {
	return appendTime(append(b, key...), t)
}
