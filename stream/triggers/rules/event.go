package rules

import (
	"strings"

	"github.com/surgeio/surge/schemas"
)

// Event is what the engine sees of a record: orders, order status changes
// and user events all become one Event.
type Event struct {
	ID       string
	User     string
	Type     string // a user event type, "order", or "order_<status>"
	SKU      string // user events
	Items    []schemas.Item
	Campaign string
	Amount   int64 // orders, minor units
	Currency string
	VIP      bool  // an order of priority vip or urgent
	TS       int64 // event time, Unix ms
}

// FromRecord turns a decoded record into an Event. Coupons (and unknown
// kinds) are not events for the engine: ok is false.
func FromRecord(r schemas.Record) (ev Event, ok bool) {
	switch v := r.(type) {
	case *schemas.UserEvent:
		return Event{ID: v.EventID, User: v.UserID, Type: string(v.Type), SKU: v.SKU, Campaign: v.CampaignID, TS: v.TS.UnixMilli()}, true
	case *schemas.Order:
		return Event{ID: v.EventID, User: v.UserID, Type: "order", Items: v.Items, Campaign: v.CampaignID,
			Amount: v.Amount, Currency: v.Currency, VIP: v.Priority.Urgent(), TS: v.CreatedAt.UnixMilli()}, true
	case *schemas.OrderStatus:
		if v.Status == schemas.StatusCreated {
			return Event{}, false // the order itself is the "order" event
		}
		var t string
		switch v.Status { // constants: decoding allocates nothing
		case schemas.StatusPaid:
			t = "order_paid"
		case schemas.StatusCancelled:
			t = "order_cancelled"
		case schemas.StatusShipped:
			t = "order_shipped"
		default:
			return Event{}, false
		}
		return Event{ID: v.EventID, User: v.UserID, Type: t, VIP: v.Priority.Urgent(), TS: v.TS.UnixMilli()}, true
	}
	return Event{}, false
}

// matches reports whether ev passes r's filter for a user whose VIP flag is
// vip.
func (r *Rule) matches(ev *Event, vip bool) bool {
	f := &r.Filter
	if f.VIP && !vip && !ev.VIP {
		return false
	}
	if f.CampaignID != "" && ev.Campaign != f.CampaignID {
		return false
	}
	if r.skuSet == nil && len(r.cats) == 0 {
		return true
	}
	if ev.SKU != "" {
		return r.skuMatches(ev.SKU)
	}
	for _, it := range ev.Items {
		if r.skuMatches(it.SKU) {
			return true
		}
	}
	return false
}

func (r *Rule) skuMatches(sku string) bool {
	if r.skuSet != nil && !r.skuSet[sku] {
		return false
	}
	if len(r.cats) == 0 {
		return true
	}
	for _, pats := range r.cats {
		for _, p := range pats {
			if p.prefix && strings.HasPrefix(sku, p.s) || p.s == sku {
				return true
			}
		}
	}
	return false
}
