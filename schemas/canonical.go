package schemas

import (
	"encoding/binary"
	"time"
)

// Records in canonical form — exactly as Encode writes them: fixed key
// order, no spaces, strings of printable ASCII without escapes, integers
// without sign or leading zero, millisecond UTC timestamps — are read by one
// forward scan instead of the general JSON parser. That is the form every
// surge producer writes, so nearly every record takes it. Anything else
// (other key orders, escapes, unknown fields, nulls, negative numbers) falls
// back to the general decoder; the outcome is the same either way, because
// both paths end in the same checks (TestCanonicalAgrees and FuzzDecode
// compare them).

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

// canonical reads a record in canonical form without checking it; ok is
// false when data is not canonical (or is of another kind than want), and
// the caller falls back to the general decoder. The record's strings are
// substrings of one copy of data.
func canonical(data []byte, want Kind) (r Record, ok bool) {
	if len(data) > MaxRecordBytes {
		return nil, false
	}
	c := canon{s: NewCanonicalScanner(data)}
	switch {
	case (want == "" || want == KindUserEvent) && c.s.Opt(`{"kind":"user_event","v":`):
		r = c.userEvent()
	case (want == "" || want == KindOrder) && c.s.Opt(`{"kind":"order","v":`):
		r = c.order()
	case (want == "" || want == KindOrderStatus) && c.s.Opt(`{"kind":"order_status","v":`):
		r = c.orderStatus()
	case (want == "" || want == KindCoupon) && c.s.Opt(`{"kind":"coupon","v":`):
		r = c.coupon()
	default:
		return nil, false
	}
	return r, c.s.Done()
}

// canon builds typed records from a CanonicalScanner.
type canon struct {
	s   CanonicalScanner
	str string // the input as one string, made on the first field
}

// field reads a string field whose key (with opening quote) was consumed.
func (c *canon) field() string {
	start, end := c.s.Str()
	if c.s.bad {
		return ""
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

func (c *canon) userEvent() *UserEvent {
	e := &UserEvent{Version: c.s.Version()}
	e.EventID = c.req(`,"event_id":"`)
	e.UserID = c.req(`,"user_id":"`)
	e.SessionID = c.req(`,"session_id":"`)
	e.Type = EventType(c.req(`,"type":"`))
	e.SKU = c.opt(`,"sku":"`)
	e.CampaignID = c.opt(`,"campaign_id":"`)
	e.TS = c.time(`,"ts":"`)
	c.s.Lit(`}`)
	return e
}

func (c *canon) order() *Order {
	o := &Order{Version: c.s.Version()}
	o.EventID = c.req(`,"event_id":"`)
	o.OrderID = c.req(`,"order_id":"`)
	o.UserID = c.req(`,"user_id":"`)
	c.s.Lit(`,"items":[`)
	n := 1
	for i := c.s.i; i < len(c.s.b) && c.s.b[i] != ']'; i++ {
		if c.s.b[i] == '}' {
			n++
		}
	}
	o.Items = make([]Item, 0, min(n, MaxItems+1))
	for !c.s.bad {
		it := Item{SKU: c.req(`{"sku":"`)}
		c.s.Lit(`,"qty":`)
		it.Qty = c.s.Uint()
		c.s.Lit(`,"unit_price":`)
		it.UnitPrice = c.s.Uint()
		c.s.Lit(`}`)
		o.Items = append(o.Items, it)
		if !c.s.Opt(`,`) {
			break
		}
	}
	c.s.Lit(`],"amount":`)
	o.Amount = c.s.Uint()
	o.Currency = c.req(`,"currency":"`)
	o.CampaignID = c.opt(`,"campaign_id":"`)
	o.Priority = Priority(c.req(`,"priority":"`))
	o.CouponID = c.opt(`,"coupon_id":"`)
	o.CreatedAt = c.time(`,"created_at":"`)
	c.s.Lit(`}`)
	return o
}

func (c *canon) orderStatus() *OrderStatus {
	s := &OrderStatus{Version: c.s.Version()}
	s.EventID = c.req(`,"event_id":"`)
	s.OrderID = c.req(`,"order_id":"`)
	s.UserID = c.req(`,"user_id":"`)
	s.Status = OrderStatusValue(c.req(`,"status":"`))
	s.Priority = Priority(c.opt(`,"priority":"`))
	s.TS = c.time(`,"ts":"`)
	c.s.Lit(`}`)
	return s
}

func (c *canon) coupon() *Coupon {
	cp := &Coupon{Version: c.s.Version()}
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
	return cp
}
