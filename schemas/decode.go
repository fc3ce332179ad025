package schemas

import (
	"bytes"
	"strconv"
	"time"

	"github.com/segmentio/encoding/json"
)

// Decode reads one record of any kind, choosing the type by its "kind"
// field, and checks it. It returns a *Order, *OrderStatus, *UserEvent or
// *Coupon. Errors match ErrInvalid; see the package documentation for the
// rules.
func Decode(data []byte) (Record, error) {
	return decode(data, "")
}

// DecodeOrder reads and checks an order. The "kind" field may be missing;
// if present it must be "order".
func DecodeOrder(data []byte) (*Order, error) {
	r, err := decode(data, KindOrder)
	if err != nil {
		return nil, err
	}
	return r.(*Order), nil
}

// DecodeOrderStatus reads and checks an order status event. The "kind" field
// may be missing; if present it must be "order_status".
func DecodeOrderStatus(data []byte) (*OrderStatus, error) {
	r, err := decode(data, KindOrderStatus)
	if err != nil {
		return nil, err
	}
	return r.(*OrderStatus), nil
}

// DecodeUserEvent reads and checks a user event. The "kind" field may be
// missing; if present it must be "user_event".
func DecodeUserEvent(data []byte) (*UserEvent, error) {
	r, err := decode(data, KindUserEvent)
	if err != nil {
		return nil, err
	}
	return r.(*UserEvent), nil
}

// DecodeCoupon reads and checks a coupon. The "kind" field may be missing; if
// present it must be "coupon".
func DecodeCoupon(data []byte) (*Coupon, error) {
	r, err := decode(data, KindCoupon)
	if err != nil {
		return nil, err
	}
	return r.(*Coupon), nil
}

// decode decodes data as kind want, or as the kind it names when want is
// empty: records in canonical form by a single scan, others by the general
// decoder.
func decode(data []byte, want Kind) (Record, error) {
	now := nowFunc()
	if r, ok := canonical(data, want, now); ok {
		return r, nil
	}
	return decodeGeneral(data, want, now)
}

// decodeGeneral parses any JSON form of a record; now is the time records
// may not be later than (plus MaxClockSkew).
func decodeGeneral(data []byte, want Kind, now time.Time) (Record, error) {
	raw, err := parse(data, want)
	if err != nil {
		return nil, err
	}
	defer releaseRaw(raw)
	d := decoder{src: data, raw: raw}
	k, err := d.kind(want)
	if err != nil {
		return nil, err
	}
	d.now = now
	var c collector
	var r Record
	switch k {
	case KindOrder:
		o := d.order()
		checkOrder(o, &d.p, d.ip, d.now, &c)
		r = o
	case KindOrderStatus:
		s := d.orderStatus()
		checkOrderStatus(s, &d.p, d.now, &c)
		r = s
	case KindUserEvent:
		e := d.userEvent()
		checkUserEvent(e, &d.p, d.now, &c)
		r = e
	case KindCoupon:
		cp := d.coupon()
		checkCoupon(cp, &d.p, d.now, &c)
		r = cp
	}
	if err := c.err(k); err != nil {
		return nil, err
	}
	return r, nil
}

// decoder turns raw field values into typed ones, noting per field what was
// wrong with the wire value.
type decoder struct {
	src []byte
	s   string // src as one string; field values are substrings of it
	raw *rawRecord
	now time.Time
	p   problems
	ip  []itemProblems // nil unless some item has a wire problem
}

func (d *decoder) kind(want Kind) (Kind, error) {
	raw := d.raw.Kind
	if absent(raw) {
		if want == "" {
			return "", invalid("", "kind", "missing")
		}
		return want, nil
	}
	if raw[0] != '"' {
		return "", invalid(want, "kind", "must be a string")
	}
	s := d.unquote(raw)
	k := Kind(s)
	switch k {
	case KindOrder, KindOrderStatus, KindUserEvent, KindCoupon:
	default:
		if want == "" {
			return "", invalid("", "kind", "unknown kind "+quote(s)+"; want one of order, order_status, user_event, coupon")
		}
	}
	if want != "" && k != want {
		return "", invalid(want, "kind", "got "+quote(s)+", want "+strconv.Quote(string(want)))
	}
	return k, nil
}

func (d *decoder) order() *Order {
	r := d.raw
	o := &Order{
		EventID:    d.str(fEventID, r.EventID, true),
		Version:    d.version(r.V),
		OrderID:    d.str(fOrderID, r.OrderID, true),
		UserID:     d.str(fUserID, r.UserID, true),
		Items:      d.items(r.Items),
		Amount:     d.int(fAmount, r.Amount),
		Currency:   d.str(fCurrency, r.Currency, true),
		CampaignID: d.str(fCampaignID, r.CampaignID, false),
		Priority:   Priority(d.str(fPriority, r.Priority, false)),
		CouponID:   d.str(fCouponID, r.CouponID, false),
		CreatedAt:  d.time(fCreatedAt, r.CreatedAt),
	}
	if o.Priority == "" {
		o.Priority = PriorityNormal
	}
	return o
}

func (d *decoder) orderStatus() *OrderStatus {
	r := d.raw
	return &OrderStatus{
		EventID:  d.str(fEventID, r.EventID, true),
		Version:  d.version(r.V),
		OrderID:  d.str(fOrderID, r.OrderID, true),
		UserID:   d.str(fUserID, r.UserID, true),
		Status:   OrderStatusValue(d.str(fStatus, r.Status, true)),
		Priority: Priority(d.str(fPriority, r.Priority, false)),
		TS:       d.time(fTS, r.TS),
	}
}

func (d *decoder) userEvent() *UserEvent {
	r := d.raw
	return &UserEvent{
		EventID:    d.str(fEventID, r.EventID, true),
		Version:    d.version(r.V),
		UserID:     d.str(fUserID, r.UserID, true),
		SessionID:  d.str(fSessionID, r.SessionID, true),
		Type:       EventType(d.str(fType, r.Type, true)),
		SKU:        d.str(fSKU, r.SKU, false),
		CampaignID: d.str(fCampaignID, r.CampaignID, false),
		TS:         d.time(fTS, r.TS),
	}
}

func (d *decoder) coupon() *Coupon {
	r := d.raw
	return &Coupon{
		EventID:        d.str(fEventID, r.EventID, true),
		Version:        d.version(r.V),
		CouponID:       d.str(fCouponID, r.CouponID, true),
		UserID:         d.str(fUserID, r.UserID, true),
		CampaignID:     d.str(fCampaignID, r.CampaignID, true),
		RuleID:         d.str(fRuleID, r.RuleID, true),
		Value:          d.int(fValue, r.Value),
		Currency:       d.str(fCurrency, r.Currency, true),
		IssuedAt:       d.time(fIssuedAt, r.IssuedAt),
		ExpiresAt:      d.time(fExpiresAt, r.ExpiresAt),
		TriggerEventID: d.str(fTriggerEventID, r.TriggerEventID, true),
	}
}

// absent reports a field that is missing or null; both mean "not given".
func absent(raw []byte) bool { return len(raw) == 0 || raw[0] == 'n' }

func (d *decoder) str(f field, raw []byte, required bool) string {
	s, p := d.readString(raw, required)
	d.p[f] = p
	return s
}

func (d *decoder) int(f field, raw []byte) int64 {
	n, p := readInt(raw)
	d.p[f] = p
	return n
}

func (d *decoder) time(f field, raw []byte) time.Time {
	t, p := d.readTime(raw)
	d.p[f] = p
	return t
}

func (d *decoder) version(raw []byte) int {
	n, p := readInt(raw)
	if p == "" && (n < 1 || n > CurrentVersion) {
		p = versionProblem(n)
	}
	if p != "" {
		d.p[fVersion] = p
		return 0
	}
	return int(n)
}

// readString reads a JSON string field. An empty string counts as absent
// for optional fields and is a problem for required ones.
func (d *decoder) readString(raw []byte, required bool) (string, string) {
	if absent(raw) {
		if required {
			return "", "missing"
		}
		return "", ""
	}
	if raw[0] != '"' {
		return "", "must be a string"
	}
	s := d.unquote(raw)
	if s == "" && required {
		return "", "must not be empty"
	}
	return s, ""
}

// unquote returns the value of a JSON string that is a slice of d.src. An
// unescaped string becomes a substring of one copy of the record, so that a
// record costs one string allocation however many fields it has.
func (d *decoder) unquote(raw []byte) string {
	in := raw[1 : len(raw)-1]
	if len(in) == 0 {
		return ""
	}
	if bytes.IndexByte(in, '\\') >= 0 {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return string(in) // unreachable: raw is a valid JSON string
		}
		return s
	}
	off := cap(d.src) - cap(in)
	if off < 0 || off+len(in) > len(d.src) || &d.src[off] != &in[0] {
		return string(in)
	}
	if d.s == "" {
		d.s = string(d.src)
	}
	return d.s[off : off+len(in)]
}

// readInt reads a JSON integer: no fraction, no exponent, within int64.
func readInt(raw []byte) (int64, string) {
	if absent(raw) {
		return 0, "missing"
	}
	digits := raw
	neg := raw[0] == '-'
	if neg {
		digits = raw[1:]
	}
	if len(digits) == 0 {
		return 0, "must be an integer"
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, "must be an integer"
		}
	}
	const limit = 1 << 63 // magnitude of math.MinInt64
	var u uint64
	for _, c := range digits {
		if u > limit/10 {
			return 0, "overflows int64"
		}
		if u = u*10 + uint64(c-'0'); u > limit {
			return 0, "overflows int64"
		}
	}
	if neg {
		return -int64(u-1) - 1, ""
	}
	if u == limit {
		return 0, "overflows int64"
	}
	return int64(u), ""
}

// readTime reads an RFC 3339 timestamp string, in any offset, as UTC
// truncated to milliseconds (the precision Encode writes).
func (d *decoder) readTime(raw []byte) (time.Time, string) {
	if absent(raw) {
		return time.Time{}, "missing"
	}
	if raw[0] != '"' {
		return time.Time{}, "must be a string"
	}
	in := raw[1 : len(raw)-1]
	if bytes.IndexByte(in, '\\') >= 0 {
		in = []byte(d.unquote(raw))
	}
	t, ok := parseTimestamp(in)
	if !ok {
		return time.Time{}, "must be an RFC 3339 timestamp, got " + quote(string(in))
	}
	t = t.Truncate(time.Millisecond)
	if t.Before(minEventTime) {
		// also keeps "0001-01-01T00:00:00Z" from reading as a missing time
		return time.Time{}, "must not be before 2000-01-01T00:00:00Z"
	}
	return t, ""
}
