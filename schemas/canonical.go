package schemas

import (
	"encoding/binary"
	"time"
	"unsafe"
)

// Records in canonical form — exactly as Encode writes them: fixed key
// order, no spaces, strings of printable ASCII without escapes, integers
// without sign or leading zero, millisecond UTC timestamps — are read by one
// forward scan instead of the general JSON parser, which also applies the
// rules (for orders, status changes and user events inline, for coupons
// through Validate). That is the form every surge producer writes, so nearly
// every record takes it. Anything else (other key orders, escapes, unknown
// fields, nulls, negative numbers) and any record that breaks a rule falls
// back to the general decoder, which says what is wrong: the outcome is the
// same either way (TestCanonicalAgrees and FuzzDecode compare the paths).

// CanonicalScanner reads a record in canonical form field by field. It
// never fails loudly: any deviation from the expected bytes sets Bad, after
// which every method is a no-op, so a caller reads a whole record and checks
// Bad once at the end. Strings are returned as byte ranges of the input so
// that the caller decides whether to copy them.
type CanonicalScanner struct {
	b   []byte
	i   int
	bad bool
}

// NewCanonicalScanner returns a scanner over b.
func NewCanonicalScanner(b []byte) CanonicalScanner { return CanonicalScanner{b: b} }

// Bad reports whether the input deviated from what was expected.
func (s *CanonicalScanner) Bad() bool { return s.bad }

// Fail marks the input as not canonical (a check the caller made failed).
func (s *CanonicalScanner) Fail() { s.bad = true }

// Done reports whether the whole input was read without deviation.
func (s *CanonicalScanner) Done() bool { return !s.bad && s.i == len(s.b) }

// Lit consumes the literal l, or fails.
func (s *CanonicalScanner) Lit(l string) {
	if !s.Opt(l) {
		s.bad = true
	}
}

// Opt consumes l if it comes next and reports whether it did.
func (s *CanonicalScanner) Opt(l string) bool {
	if s.bad || len(s.b)-s.i < len(l) || string(s.b[s.i:s.i+len(l)]) != l {
		return false
	}
	s.i += len(l)
	return true
}

// plainByte marks the bytes a canonical string may hold: printable ASCII
// without quote and backslash (anything else is written escaped).
var plainByte = func() (t [256]bool) {
	for c := 0x20; c <= 0x7e; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// Masks for hasSpecial: one byte value in every byte of a word.
const (
	ones   = 0x0101010101010101
	highs  = 0x8080808080808080
	quotes = ones * '"'
	slashs = ones * '\\'
)

// hasSpecial reports whether any byte of x is not plainByte: below 0x20,
// above 0x7e, a quote or a backslash. It may also report true for a plain
// byte above a special one (a borrow), never false for a special byte, so
// a caller that falls back to plainByte then is exact.
func hasSpecial(x uint64) bool {
	zero := func(v uint64) uint64 { return (v - ones) & ^v & highs }
	less := (x - ones*0x20) & ^x & highs // a byte < 0x20
	more := ((x + ones) | x) & highs     // a byte > 0x7e
	return less|more|zero(x^quotes)|zero(x^slashs) != 0
}

// Str reads the rest of a string whose opening quote is part of the last
// literal, and its closing quote. It returns the string's byte range in the
// input. Empty strings and strings longer than MaxIDBytes fail: the general
// decoder reports those.
func (s *CanonicalScanner) Str() (start, end int) {
	if s.bad {
		return 0, 0
	}
	start = s.i
	for s.i+8 <= len(s.b) && !hasSpecial(binary.LittleEndian.Uint64(s.b[s.i:])) {
		s.i += 8 // eight plain bytes at a time
	}
	for s.i < len(s.b) && plainByte[s.b[s.i]] {
		s.i++
	}
	n := s.i - start
	if s.i == len(s.b) || s.b[s.i] != '"' || n == 0 || n > MaxIDBytes {
		s.bad = true
		return 0, 0
	}
	s.i++ // closing quote
	return start, start + n
}

// Uint reads a non-negative integer without sign or leading zero, of at
// most 18 digits so that it cannot overflow.
func (s *CanonicalScanner) Uint() int64 {
	if s.bad {
		return 0
	}
	start := s.i
	var n int64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		n = n*10 + int64(s.b[s.i]-'0')
		s.i++
	}
	if d := s.i - start; d == 0 || d > 18 || d > 1 && s.b[start] == '0' {
		s.bad = true
	}
	return n
}

// Version reads a schema version this package knows.
func (s *CanonicalScanner) Version() int {
	v := s.Uint()
	if v < 1 || v > CurrentVersion {
		s.bad = true
	}
	return int(v)
}

// Time reads "2006-01-02T15:04:05.000Z" and the closing quote after it, as
// Unix milliseconds. Times before 2000 fail (the general decoder reports
// them).
func (s *CanonicalScanner) Time() int64 {
	if s.bad || len(s.b)-s.i < 25 {
		s.bad = true
		return 0
	}
	b := s.b[s.i : s.i+25]
	s.i += 25
	if b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[19] != '.' || b[23] != 'Z' || b[24] != '"' {
		s.bad = true
		return 0
	}
	var f [7]int
	for k, r := range [7][2]int{{0, 4}, {5, 7}, {8, 10}, {11, 13}, {14, 16}, {17, 19}, {20, 23}} {
		n, ok := digits(b[r[0]:r[1]])
		if !ok {
			s.bad = true
			return 0
		}
		f[k] = n
	}
	y, mo, d := f[0], f[1], f[2]
	if y < 2000 || mo < 1 || mo > 12 || d < 1 || d > daysIn(mo, y) || f[3] > 23 || f[4] > 59 || f[5] > 59 {
		s.bad = true
		return 0
	}
	secs := daysFromCivil(y, mo, d)*86400 + int64(f[3]*3600+f[4]*60+f[5])
	return secs*1000 + int64(f[6])
}

// daysFromCivil is the number of days from 1970-01-01 to y-m-d (proleptic
// Gregorian).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era*146097 + doe - 719468)
}

// canonical reads and checks a record in canonical form; ok is false when
// data is not canonical, breaks a rule or is of another kind than want, and
// the caller falls back to the general decoder. The record's strings are
// substrings of one copy of data.
func canonical(data []byte, want Kind, now time.Time) (r Record, ok bool) {
	c := canon{latest: latestMs(now)}
	k, ok := c.start(data, want)
	if !ok {
		return nil, false
	}
	switch k {
	case KindUserEvent:
		e := &UserEvent{}
		c.userEvent(e)
		r = e
	case KindOrder:
		o := &Order{}
		c.order(o)
		r = o
	case KindOrderStatus:
		st := &OrderStatus{}
		c.orderStatus(st)
		r = st
	case KindCoupon:
		cp := &Coupon{}
		c.coupon(cp)
		r = cp
	}
	return r, c.done(r, now)
}

// latestMs is the first event time (Unix ms) the canonical path accepts
// no more: times from now+MaxClockSkew-1ms on are left to the general
// decoder (now has sub-millisecond precision).
func latestMs(now time.Time) int64 { return now.UnixMilli() + MaxClockSkew.Milliseconds() - 1 }

// start reads the start of a canonical record up to its version and
// returns its kind.
func (c *canon) start(data []byte, want Kind) (Kind, bool) {
	if len(data) > MaxRecordBytes {
		return "", false
	}
	c.s = NewCanonicalScanner(data)
	if !c.s.Opt(`{"kind":"`) {
		return "", false
	}
	var k Kind
	switch {
	case c.s.Opt(`user_event","v":`):
		k = KindUserEvent
	case c.s.Opt(`order","v":`):
		k = KindOrder
	case c.s.Opt(`order_status","v":`):
		k = KindOrderStatus
	case c.s.Opt(`coupon","v":`):
		k = KindCoupon
	default:
		return "", false
	}
	return k, want == "" || want == k
}

// canon builds typed records from a CanonicalScanner.
type canon struct {
	s   CanonicalScanner
	str string // the input as one string, made on the first field
	// alias makes strings alias the input instead of a copy of it.
	alias bool
	// latest is the first event time (Unix ms) not accepted here (see
	// latestMs).
	latest int64
}

// done reports whether the whole record was read and passed the rules:
// coupons, not checked while read, go through Validate.
func (c *canon) done(r Record, now time.Time) bool {
	if !c.s.Done() {
		return false
	}
	if cp, ok := r.(*Coupon); ok {
		return validateAt(cp, now, true) == nil
	}
	return true
}

// field reads a string field whose key (with opening quote) was consumed.
func (c *canon) field() string {
	start, end := c.s.Str()
	if c.s.bad {
		return ""
	}
	if c.alias {
		return unsafe.String(&c.s.b[start], end-start)
	}
	if c.str == "" {
		c.str = string(c.s.b)
	}
	return c.str[start:end]
}

// opt reads an optional string field: key is its `,"name":"` literal.
func (c *canon) opt(key string) string {
	if c.s.Opt(key) {
		return c.field()
	}
	return ""
}

// req reads a required string field.
func (c *canon) req(key string) string {
	c.s.Lit(key)
	return c.field()
}

func (c *canon) time(key string) time.Time {
	c.s.Lit(key)
	ms := c.s.Time()
	if c.s.bad {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// eventTime reads an event time, which must not be too far in the future.
func (c *canon) eventTime(key string) time.Time {
	c.s.Lit(key)
	ms := c.s.Time()
	if c.s.bad || ms >= c.latest {
		c.s.bad = true
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// priority checks an order's or status change's priority.
func (c *canon) priority(p Priority) Priority {
	switch p {
	case PriorityNormal, PriorityVIP, PriorityUrgent:
	default:
		c.s.bad = true
	}
	return p
}

func (c *canon) userEvent(e *UserEvent) {
	*e = UserEvent{Version: c.s.Version()}
	e.EventID = c.req(`,"event_id":"`)
	e.UserID = c.req(`,"user_id":"`)
	e.SessionID = c.req(`,"session_id":"`)
	e.Type = EventType(c.req(`,"type":"`))
	e.SKU = c.opt(`,"sku":"`)
	e.CampaignID = c.opt(`,"campaign_id":"`)
	e.TS = c.eventTime(`,"ts":"`)
	c.s.Lit(`}`)
	switch e.Type {
	case EventAddToCart, EventRemoveFromCart:
		if e.SKU == "" {
			c.s.bad = true
		}
	case EventPageView, EventSearch, EventCheckoutStarted, EventCouponRedeemed:
	default:
		c.s.bad = true
	}
}

// order fills o; its Items reuse o.Items' array when it has one.
func (c *canon) order(o *Order) {
	items := o.Items[:0]
	*o = Order{Version: c.s.Version()}
	o.EventID = c.req(`,"event_id":"`)
	o.OrderID = c.req(`,"order_id":"`)
	o.UserID = c.req(`,"user_id":"`)
	c.s.Lit(`,"items":[`)
	if items == nil {
		n := 1
		for i := c.s.i; i < len(c.s.b) && c.s.b[i] != ']'; i++ {
			if c.s.b[i] == '}' {
				n++
			}
		}
		items = make([]Item, 0, min(n, MaxItems+1))
	}
	var sum int64
	for !c.s.bad {
		it := Item{SKU: c.req(`{"sku":"`)}
		c.s.Lit(`,"qty":`)
		it.Qty = c.s.Uint()
		c.s.Lit(`,"unit_price":`)
		it.UnitPrice = c.s.Uint()
		c.s.Lit(`}`)
		line, ok := mulInt64(it.Qty, it.UnitPrice)
		if !ok || it.Qty == 0 || sum > maxInt64-line || len(items) == MaxItems {
			c.s.bad = true
		}
		sum += line
		items = append(items, it)
		if !c.s.Opt(`,`) {
			break
		}
	}
	o.Items = items
	c.s.Lit(`],"amount":`)
	o.Amount = c.s.Uint()
	if o.Amount == 0 || o.Amount != sum {
		c.s.bad = true
	}
	o.Currency = c.req(`,"currency":"`)
	if !ValidCurrency(o.Currency) {
		c.s.bad = true
	}
	o.CampaignID = c.opt(`,"campaign_id":"`)
	o.Priority = c.priority(Priority(c.req(`,"priority":"`)))
	o.CouponID = c.opt(`,"coupon_id":"`)
	o.CreatedAt = c.eventTime(`,"created_at":"`)
	c.s.Lit(`}`)
}

func (c *canon) orderStatus(s *OrderStatus) {
	*s = OrderStatus{Version: c.s.Version()}
	s.EventID = c.req(`,"event_id":"`)
	s.OrderID = c.req(`,"order_id":"`)
	s.UserID = c.req(`,"user_id":"`)
	s.Status = OrderStatusValue(c.req(`,"status":"`))
	switch s.Status {
	case StatusCreated, StatusPaid, StatusCancelled, StatusShipped:
	default:
		c.s.bad = true
	}
	if c.s.Opt(`,"priority":"`) {
		s.Priority = c.priority(Priority(c.field()))
	}
	s.TS = c.eventTime(`,"ts":"`)
	c.s.Lit(`}`)
}

func (c *canon) coupon(cp *Coupon) {
	*cp = Coupon{Version: c.s.Version()}
	cp.EventID = c.req(`,"event_id":"`)
	cp.CouponID = c.req(`,"coupon_id":"`)
	cp.UserID = c.req(`,"user_id":"`)
	cp.CampaignID = c.req(`,"campaign_id":"`)
	cp.RuleID = c.req(`,"rule_id":"`)
	c.s.Lit(`,"value":`)
	cp.Value = c.s.Uint()
	cp.Currency = c.req(`,"currency":"`)
	cp.IssuedAt = c.time(`,"issued_at":"`)
	cp.ExpiresAt = c.time(`,"expires_at":"`)
	cp.TriggerEventID = c.req(`,"trigger_event_id":"`)
	c.s.Lit(`}`)
}
