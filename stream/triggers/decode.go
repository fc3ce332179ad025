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

// scanner reads a canonical record (see schemas.CanonicalScanner); its
// strings alias the record's bytes.
type scanner struct {
	schemas.CanonicalScanner
	b []byte
}

// str reads a string field's value without copying it.
func (s *scanner) str() string {
	start, end := s.Str()
	if s.Bad() {
		return ""
	}
	return unsafe.String(&s.b[start], end-start)
}

// eventTime checks ts like schemas does (not more than 24h ahead); a time
// right at the limit is left to schemas.Decode.
func (d *eventDecoder) eventTime(s *scanner, ts int64) {
	if ts >= d.now+schemas.MaxClockSkew.Milliseconds()-1 {
		s.Fail()
	}
}

func (d *eventDecoder) fast(v []byte, ev *rules.Event) bool {
	if len(v) > schemas.MaxRecordBytes {
		return false
	}
	s := scanner{CanonicalScanner: schemas.NewCanonicalScanner(v), b: v}
	switch {
	case s.Opt(`{"kind":"user_event","v":`):
		d.userEvent(&s, ev)
	case s.Opt(`{"kind":"order","v":`):
		d.order(&s, ev)
	case s.Opt(`{"kind":"order_status","v":`):
		d.orderStatus(&s, ev)
	default:
		return false
	}
	return s.Done()
}

func (d *eventDecoder) userEvent(s *scanner, ev *rules.Event) {
	s.Version()
	s.Lit(`,"event_id":"`)
	*ev = rules.Event{ID: s.str()}
	s.Lit(`,"user_id":"`)
	ev.User = s.str()
	s.Lit(`,"session_id":"`)
	s.str()
	s.Lit(`,"type":"`)
	ev.Type = s.str()
	if s.Opt(`,"sku":"`) {
		ev.SKU = s.str()
	}
	if s.Opt(`,"campaign_id":"`) {
		ev.Campaign = s.str()
	}
	s.Lit(`,"ts":"`)
	ev.TS = s.Time()
	s.Lit(`}`)
	switch schemas.EventType(ev.Type) {
	case schemas.EventAddToCart, schemas.EventRemoveFromCart:
		if ev.SKU == "" {
			s.Fail()
		}
	case schemas.EventPageView, schemas.EventSearch, schemas.EventCheckoutStarted, schemas.EventCouponRedeemed:
	default:
		s.Fail()
	}
	d.eventTime(s, ev.TS)
}

func (d *eventDecoder) order(s *scanner, ev *rules.Event) {
	s.Version()
	s.Lit(`,"event_id":"`)
	*ev = rules.Event{Type: "order", ID: s.str()}
	s.Lit(`,"order_id":"`)
	s.str()
	s.Lit(`,"user_id":"`)
	ev.User = s.str()
	s.Lit(`,"items":[`)
	d.items = d.items[:0]
	var sum int64
	for !s.Bad() {
		s.Lit(`{"sku":"`)
		it := schemas.Item{SKU: s.str()}
		s.Lit(`,"qty":`)
		it.Qty = s.Uint()
		s.Lit(`,"unit_price":`)
		it.UnitPrice = s.Uint()
		s.Lit(`}`)
		line, ok := mul(it.Qty, it.UnitPrice)
		if !ok || it.Qty == 0 || sum > 1<<63-1-line || len(d.items) == schemas.MaxItems {
			s.Fail()
		}
		sum += line
		d.items = append(d.items, it)
		if !s.Opt(`,`) {
			break
		}
	}
	ev.Items = d.items
	s.Lit(`],"amount":`)
	ev.Amount = s.Uint()
	if ev.Amount == 0 || ev.Amount != sum {
		s.Fail()
	}
	s.Lit(`,"currency":"`)
	ev.Currency = s.str()
	if !schemas.ValidCurrency(ev.Currency) {
		s.Fail()
	}
	if s.Opt(`,"campaign_id":"`) {
		ev.Campaign = s.str()
	}
	s.Lit(`,"priority":"`)
	ev.VIP = s.priority(s.str())
	if s.Opt(`,"coupon_id":"`) {
		s.str()
	}
	s.Lit(`,"created_at":"`)
	ev.TS = s.Time()
	s.Lit(`}`)
	d.eventTime(s, ev.TS)
}

var statusTypes = map[string]string{
	string(schemas.StatusPaid): "order_paid", string(schemas.StatusCancelled): "order_cancelled",
	string(schemas.StatusShipped): "order_shipped", string(schemas.StatusCreated): "",
}

func (d *eventDecoder) orderStatus(s *scanner, ev *rules.Event) {
	s.Version()
	s.Lit(`,"event_id":"`)
	*ev = rules.Event{ID: s.str()}
	s.Lit(`,"order_id":"`)
	s.str()
	s.Lit(`,"user_id":"`)
	ev.User = s.str()
	s.Lit(`,"status":"`)
	t, known := statusTypes[s.str()]
	if !known {
		s.Fail()
	}
	if s.Opt(`,"priority":"`) {
		ev.VIP = s.priority(s.str())
	}
	s.Lit(`,"ts":"`)
	ev.TS = s.Time()
	s.Lit(`}`)
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
	s.Fail()
	return false
}

func mul(a, b int64) (int64, bool) {
	if a != 0 && b > (1<<63-1)/a {
		return 0, false
	}
	return a * b, true
}
