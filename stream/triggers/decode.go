package triggers

import (
	"unsafe"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream/triggers/rules"
)

// eventDecoder turns input records into engine events. Records exactly in
// the form schemas.Encode writes (fixed key order, no spaces, printable
// ASCII strings without escapes, millisecond UTC timestamps) are read by a
// single allocation-free scan that applies the same checks as
// schemas.Decode; any other record goes through schemas.Decode, so the
// outcome (event, or invalid) is the same either way
// (TestFastDecodeAgreesWithSchemas checks this on valid and broken input).
//
// The strings of a fast-decoded event alias the record's bytes: they are
// valid only until the record is dropped. The rules engine copies what it
// keeps.
type eventDecoder struct {
	items []schemas.Item // scratch for an order's items
	now   int64          // Unix ms: the "not more than 24h in the future" check
}

// decode fills ev from a record's value. ok is false for a record that is
// not an engine event (an order status "created", a coupon); err is set for
// one that does not validate.
func (d *eventDecoder) decode(v []byte, ev *rules.Event) (ok bool, err error) {
	if d.fast(v, ev) {
		return ev.Type != "", nil
	}
	dec, err := schemas.Decode(v)
	if err != nil {
		return false, err
	}
	*ev, ok = rules.FromRecord(dec)
	return ok, nil
}

// scanner reads a canonical record; any deviation sets bad.
type scanner struct {
	b   []byte
	i   int
	bad bool
}

func (s *scanner) lit(l string) {
	if s.bad || len(s.b)-s.i < len(l) || string(s.b[s.i:s.i+len(l)]) != l {
		s.bad = true
		return
	}
	s.i += len(l)
}

// opt consumes l if it comes next and reports whether it did.
func (s *scanner) opt(l string) bool {
	if s.bad || len(s.b)-s.i < len(l) || string(s.b[s.i:s.i+len(l)]) != l {
		return false
	}
	s.i += len(l)
	return true
}

// plain marks the bytes a fast-path string may hold: printable ASCII
// without quote and backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c <= 0x7e; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads the rest of a string whose opening quote was consumed: 1 to
// MaxIDBytes printable ASCII bytes, no quote or backslash inside.
func (s *scanner) str() string {
	if s.bad {
		return ""
	}
	start := s.i
	for s.i < len(s.b) && plain[s.b[s.i]] {
		s.i++
	}
	if s.i < len(s.b) && s.b[s.i] != '"' {
		s.bad = true
		return ""
	}
	n := s.i - start
	if s.i == len(s.b) || n == 0 || n > schemas.MaxIDBytes {
		s.bad = true
		return ""
	}
	s.i++ // closing quote
	return unsafe.String(&s.b[start], n)
}

// uint reads a canonical non-negative integer (no sign, no leading zero)
// of at most 18 digits, so it cannot overflow.
func (s *scanner) uint() int64 {
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

// time reads "2006-01-02T15:04:05.000Z" and its closing quote, as Unix ms.
func (s *scanner) time() int64 {
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
		for _, c := range b[r[0]:r[1]] {
			if c < '0' || c > '9' {
				s.bad = true
				return 0
			}
			f[k] = f[k]*10 + int(c-'0')
		}
	}
	y, mo, d := f[0], f[1], f[2]
	if y < 2000 || mo < 1 || mo > 12 || d < 1 || d > daysIn(mo, y) || f[3] > 23 || f[4] > 59 || f[5] > 59 {
		s.bad = true
		return 0
	}
	secs := daysFromCivil(y, mo, d)*86400 + int64(f[3]*3600+f[4]*60+f[5])
	return secs*1000 + int64(f[6])
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
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

func (s *scanner) version() {
	if v := s.uint(); v < 1 || v > schemas.CurrentVersion {
		s.bad = true
	}
}

// eventTime checks ts like schemas does (not more than 24h ahead); a time
// right at the limit is left to schemas.Decode.
func (d *eventDecoder) eventTime(s *scanner, ts int64) {
	if ts >= d.now+schemas.MaxClockSkew.Milliseconds()-1 {
		s.bad = true
	}
}

func (d *eventDecoder) fast(v []byte, ev *rules.Event) bool {
	if len(v) > schemas.MaxRecordBytes {
		return false
	}
	s := scanner{b: v}
	switch {
	case s.opt(`{"kind":"user_event","v":`):
		d.userEvent(&s, ev)
	case s.opt(`{"kind":"order","v":`):
		d.order(&s, ev)
	case s.opt(`{"kind":"order_status","v":`):
		d.orderStatus(&s, ev)
	default:
		return false
	}
	return !s.bad && s.i == len(v)
}

func (d *eventDecoder) userEvent(s *scanner, ev *rules.Event) {
	s.version()
	s.lit(`,"event_id":"`)
	*ev = rules.Event{ID: s.str()}
	s.lit(`,"user_id":"`)
	ev.User = s.str()
	s.lit(`,"session_id":"`)
	s.str()
	s.lit(`,"type":"`)
	ev.Type = s.str()
	if s.opt(`,"sku":"`) {
		ev.SKU = s.str()
	}
	if s.opt(`,"campaign_id":"`) {
		ev.Campaign = s.str()
	}
	s.lit(`,"ts":"`)
	ev.TS = s.time()
	s.lit(`}`)
	switch schemas.EventType(ev.Type) {
	case schemas.EventAddToCart, schemas.EventRemoveFromCart:
		if ev.SKU == "" {
			s.bad = true
		}
	case schemas.EventPageView, schemas.EventSearch, schemas.EventCheckoutStarted, schemas.EventCouponRedeemed:
	default:
		s.bad = true
	}
	d.eventTime(s, ev.TS)
}

func (d *eventDecoder) order(s *scanner, ev *rules.Event) {
	s.version()
	s.lit(`,"event_id":"`)
	*ev = rules.Event{Type: "order", ID: s.str()}
	s.lit(`,"order_id":"`)
	s.str()
	s.lit(`,"user_id":"`)
	ev.User = s.str()
	s.lit(`,"items":[`)
	d.items = d.items[:0]
	var sum int64
	for !s.bad {
		s.lit(`{"sku":"`)
		it := schemas.Item{SKU: s.str()}
		s.lit(`,"qty":`)
		it.Qty = s.uint()
		s.lit(`,"unit_price":`)
		it.UnitPrice = s.uint()
		s.lit(`}`)
		line, ok := mul(it.Qty, it.UnitPrice)
		if !ok || it.Qty == 0 || sum > 1<<63-1-line || len(d.items) == schemas.MaxItems {
			s.bad = true
		}
		sum += line
		d.items = append(d.items, it)
		if !s.opt(`,`) {
			break
		}
	}
	ev.Items = d.items
	s.lit(`],"amount":`)
	ev.Amount = s.uint()
	if ev.Amount == 0 || ev.Amount != sum {
		s.bad = true
	}
	s.lit(`,"currency":"`)
	ev.Currency = s.str()
	if !schemas.ValidCurrency(ev.Currency) {
		s.bad = true
	}
	if s.opt(`,"campaign_id":"`) {
		ev.Campaign = s.str()
	}
	s.lit(`,"priority":"`)
	ev.VIP = s.priority(s.str())
	if s.opt(`,"coupon_id":"`) {
		s.str()
	}
	s.lit(`,"created_at":"`)
	ev.TS = s.time()
	s.lit(`}`)
	d.eventTime(s, ev.TS)
}

var statusTypes = map[string]string{
	string(schemas.StatusPaid): "order_paid", string(schemas.StatusCancelled): "order_cancelled",
	string(schemas.StatusShipped): "order_shipped", string(schemas.StatusCreated): "",
}

func (d *eventDecoder) orderStatus(s *scanner, ev *rules.Event) {
	s.version()
	s.lit(`,"event_id":"`)
	*ev = rules.Event{ID: s.str()}
	s.lit(`,"order_id":"`)
	s.str()
	s.lit(`,"user_id":"`)
	ev.User = s.str()
	s.lit(`,"status":"`)
	t, known := statusTypes[s.str()]
	if !known {
		s.bad = true
	}
	if s.opt(`,"priority":"`) {
		ev.VIP = s.priority(s.str())
	}
	s.lit(`,"ts":"`)
	ev.TS = s.time()
	s.lit(`}`)
	d.eventTime(s, ev.TS)
	ev.Type = t // "" for created: the order itself is the event
}

// priority checks a priority value and reports whether it is urgent.
func (s *scanner) priority(p string) bool {
	switch schemas.Priority(p) {
	case schemas.PriorityNormal:
		return false
	case schemas.PriorityVIP, schemas.PriorityUrgent:
		return true
	}
	s.bad = true
	return false
}

func mul(a, b int64) (int64, bool) {
	if a != 0 && b > (1<<63-1)/a {
		return 0, false
	}
	return a * b, true
}
