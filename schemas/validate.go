package schemas

import (
	"fmt"
	"strconv"
	"time"
)

// field names a wire field; it indexes problems.
type field uint8

const (
	fKind field = iota
	fVersion
	fEventID
	fOrderID
	fUserID
	fItems
	fAmount
	fCurrency
	fCampaignID
	fPriority
	fCouponID
	fCreatedAt
	fStatus
	fTS
	fSessionID
	fType
	fSKU
	fRuleID
	fValue
	fIssuedAt
	fExpiresAt
	fTriggerEventID
	numFields
)

var fieldNames = [numFields]string{
	fKind: "kind", fVersion: "v", fEventID: "event_id", fOrderID: "order_id",
	fUserID: "user_id", fItems: "items", fAmount: "amount", fCurrency: "currency",
	fCampaignID: "campaign_id", fPriority: "priority", fCouponID: "coupon_id",
	fCreatedAt: "created_at", fStatus: "status", fTS: "ts", fSessionID: "session_id",
	fType: "type", fSKU: "sku", fRuleID: "rule_id", fValue: "value",
	fIssuedAt: "issued_at", fExpiresAt: "expires_at", fTriggerEventID: "trigger_event_id",
}

// problems holds, per field, what the decoder found wrong with the wire value
// (missing, wrong JSON type, malformed number or timestamp). The rules skip a
// field that already has a problem, so each field is reported once, and in
// field order.
type problems [numFields]string

// itemProblems is problems for one order item; whole is set when the item is
// not an object at all.
type itemProblems struct {
	whole, sku, qty, unitPrice string
}

// noProblems is the (read-only) problems of a value built in Go.
var noProblems problems

// Validate checks a record built in Go against the rules Decode applies to
// records read from JSON; see the package documentation. A zero Version means
// CurrentVersion and an empty Priority means PriorityNormal, as in Encode. It
// returns nil or a *ValidationError listing every problem.
func Validate(r Record) error { return validateAt(r, nowFunc(), false) }

// validateAt is Validate with the time records may not be later than (plus
// MaxClockSkew). cleanIDs says that every string of r was read by the
// canonical scanner, which only returns non-empty printable ASCII of at
// most MaxIDBytes: the id checks then have nothing to find and are skipped.
func validateAt(r Record, now time.Time, cleanIDs bool) error {
	c := collector{cleanIDs: cleanIDs}
	switch v := r.(type) {
	case *Order:
		if v == nil {
			return invalid(KindOrder, "", "nil record")
		}
		checkOrder(v, &noProblems, nil, now, &c)
	case *OrderStatus:
		if v == nil {
			return invalid(KindOrderStatus, "", "nil record")
		}
		checkOrderStatus(v, &noProblems, now, &c)
	case *UserEvent:
		if v == nil {
			return invalid(KindUserEvent, "", "nil record")
		}
		checkUserEvent(v, &noProblems, now, &c)
	case *Coupon:
		if v == nil {
			return invalid(KindCoupon, "", "nil record")
		}
		checkCoupon(v, &noProblems, now, &c)
	case nil:
		return invalid("", "", "nil record")
	default:
		return invalid("", "", fmt.Sprintf("unsupported record type %T", r))
	}
	return c.err(r.Kind())
}

// checker applies the rules to one record, skipping fields the decoder has
// already found a problem with.
type checker struct {
	p   *problems
	c   *collector
	now time.Time
}

// bad reports the decoder's problem with f, if any; it says whether there was one.
func (k checker) bad(f field) bool {
	if p := k.p[f]; p != "" {
		k.c.add(fieldNames[f], p)
		return true
	}
	return false
}

func (k checker) add(f field, problem string) {
	if problem != "" {
		k.c.add(fieldNames[f], problem)
	}
}

func (k checker) id(f field, s string, required bool) {
	if !k.bad(f) {
		k.add(f, k.c.idProblem(s, required))
	}
}

func (k checker) version(v int) {
	if !k.bad(fVersion) && (v < 0 || v > CurrentVersion) {
		k.add(fVersion, versionProblem(int64(v)))
	}
}

// eventTime checks a record's event time and says whether it is usable.
func (k checker) eventTime(f field, t time.Time) bool {
	if k.bad(f) {
		return false
	}
	p := eventTimeProblem(t, k.now)
	k.add(f, p)
	return p == ""
}

// money checks an amount that must be positive and says whether it is.
func (k checker) money(f field, v int64) bool {
	if k.bad(f) {
		return false
	}
	p := positiveProblem(v)
	k.add(f, p)
	return p == ""
}

func (k checker) currency(s string) {
	if !k.bad(fCurrency) {
		k.add(fCurrency, currencyProblem(s))
	}
}

func checkOrder(o *Order, p *problems, ip []itemProblems, now time.Time, c *collector) {
	k := checker{p: p, c: c, now: now}
	k.id(fEventID, o.EventID, true)
	k.version(o.Version)
	k.id(fOrderID, o.OrderID, true)
	k.id(fUserID, o.UserID, true)
	sum, sumOK := k.items(o.Items, ip)
	if k.money(fAmount, o.Amount) && sumOK && sum != o.Amount {
		k.add(fAmount, fmt.Sprintf("%d does not match the items total %d (sum of qty*unit_price)", o.Amount, sum))
	}
	k.currency(o.Currency)
	k.id(fCampaignID, o.CampaignID, false)
	k.priority(o.Priority)
	k.id(fCouponID, o.CouponID, false)
	k.eventTime(fCreatedAt, o.CreatedAt)
}

// items checks an order's items and returns the sum of qty*unit_price; ok is
// false when some item is bad or the sum overflows.
func (k checker) items(items []Item, ip []itemProblems) (sum int64, ok bool) {
	if k.bad(fItems) {
		return 0, false
	}
	switch {
	case len(items) == 0:
		k.add(fItems, "must not be empty")
		return 0, false
	case len(items) > MaxItems:
		k.add(fItems, "must have at most "+strconv.Itoa(MaxItems)+" items, got "+strconv.Itoa(len(items)))
		return 0, false
	}
	ok = true
	for i := range items {
		it := &items[i]
		var pr itemProblems
		if ip != nil {
			pr = ip[i]
		}
		if pr.whole != "" {
			k.c.addItem(i, "", pr.whole)
			ok = false
			continue
		}
		if pr.sku == "" {
			pr.sku = k.c.idProblem(it.SKU, true)
		}
		if pr.qty == "" && it.Qty <= 0 {
			pr.qty = "must be greater than zero"
		}
		if pr.unitPrice == "" && it.UnitPrice < 0 {
			pr.unitPrice = "must not be negative"
		}
		for _, e := range [...]struct{ name, problem string }{
			{"sku", pr.sku}, {"qty", pr.qty}, {"unit_price", pr.unitPrice},
		} {
			if e.problem != "" {
				k.c.addItem(i, e.name, e.problem)
			}
		}
		if pr.qty != "" || pr.unitPrice != "" {
			ok = false
			continue
		}
		if !ok {
			continue
		}
		line, lineOK := mulInt64(it.Qty, it.UnitPrice)
		if !lineOK {
			k.c.addItem(i, "", "qty*unit_price overflows int64")
			ok = false
			continue
		}
		if sum > maxInt64-line {
			k.add(fItems, "sum of qty*unit_price overflows int64")
			ok = false
			continue
		}
		sum += line
	}
	return sum, ok
}

func checkOrderStatus(s *OrderStatus, p *problems, now time.Time, c *collector) {
	k := checker{p: p, c: c, now: now}
	k.id(fEventID, s.EventID, true)
	k.version(s.Version)
	k.id(fOrderID, s.OrderID, true)
	k.id(fUserID, s.UserID, true)
	if !k.bad(fStatus) {
		switch s.Status {
		case StatusCreated, StatusPaid, StatusCancelled, StatusShipped:
		case "":
			k.add(fStatus, "missing")
		default:
			k.add(fStatus, fmt.Sprintf("unknown status %s; want one of created, paid, cancelled, shipped", quote(string(s.Status))))
		}
	}
	k.priority(s.Priority)
	k.eventTime(fTS, s.TS)
}

func (k checker) priority(p Priority) {
	if k.bad(fPriority) {
		return
	}
	switch p {
	case "", PriorityNormal, PriorityVIP, PriorityUrgent:
	default:
		k.add(fPriority, fmt.Sprintf("unknown priority %s; want one of normal, vip, urgent", quote(string(p))))
	}
}

func checkUserEvent(e *UserEvent, p *problems, now time.Time, c *collector) {
	k := checker{p: p, c: c, now: now}
	k.id(fEventID, e.EventID, true)
	k.version(e.Version)
	k.id(fUserID, e.UserID, true)
	k.id(fSessionID, e.SessionID, true)
	cart := false
	if !k.bad(fType) {
		switch e.Type {
		case EventAddToCart, EventRemoveFromCart:
			cart = true
		case EventPageView, EventSearch, EventCheckoutStarted, EventCouponRedeemed:
		case "":
			k.add(fType, "missing")
		default:
			k.add(fType, fmt.Sprintf("unknown event type %s; want one of page_view, search, add_to_cart, remove_from_cart, checkout_started, coupon_redeemed", quote(string(e.Type))))
		}
	}
	if !k.bad(fSKU) {
		if cart && e.SKU == "" {
			k.add(fSKU, "required for "+string(e.Type)+" events")
		} else {
			k.add(fSKU, k.c.idProblem(e.SKU, false))
		}
	}
	k.id(fCampaignID, e.CampaignID, false)
	k.eventTime(fTS, e.TS)
}

func checkCoupon(cp *Coupon, p *problems, now time.Time, c *collector) {
	k := checker{p: p, c: c, now: now}
	k.id(fEventID, cp.EventID, true)
	k.version(cp.Version)
	k.id(fCouponID, cp.CouponID, true)
	k.id(fUserID, cp.UserID, true)
	k.id(fCampaignID, cp.CampaignID, true)
	k.id(fRuleID, cp.RuleID, true)
	k.money(fValue, cp.Value)
	k.currency(cp.Currency)
	issuedOK := k.eventTime(fIssuedAt, cp.IssuedAt)
	if !k.bad(fExpiresAt) {
		switch t := cp.ExpiresAt; {
		case t.IsZero():
			k.add(fExpiresAt, "missing")
		case !t.Before(maxTime):
			k.add(fExpiresAt, "must be before year 10000")
		case issuedOK && !t.After(cp.IssuedAt):
			k.add(fExpiresAt, "must be after issued_at")
		case t.Before(minEventTime):
			k.add(fExpiresAt, "must not be before 2000-01-01T00:00:00Z")
		}
	}
	k.id(fTriggerEventID, cp.TriggerEventID, true)
}
