package loadgen

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/surgeio/surge/schemas"
)

// fingerprint is everything about a record that the seed fixes.
func fingerprint(r schemas.Record) string {
	switch v := r.(type) {
	case *schemas.Order:
		return fmt.Sprintf("order %s %s %s %v %d %s %s %s", v.EventID, v.OrderID, v.UserID, v.Items, v.Amount, v.Currency, v.CampaignID, v.Priority)
	case *schemas.OrderStatus:
		return fmt.Sprintf("status %s %s %s %s", v.EventID, v.OrderID, v.UserID, v.Status)
	case *schemas.UserEvent:
		return fmt.Sprintf("event %s %s %s %s %s %s", v.EventID, v.UserID, v.SessionID, v.Type, v.SKU, v.CampaignID)
	}
	return fmt.Sprintf("unexpected %T", r)
}

func TestSameSeedSameSequence(t *testing.T) {
	const n = 10000
	cfg := Config{Seed: 42, MaxRecords: n}
	a, _ := generate(t, cfg)
	b, _ := generate(t, cfg)
	other, _ := generate(t, Config{Seed: 43, MaxRecords: n})
	if len(a.acked) != n || len(b.acked) != n {
		t.Fatalf("got %d and %d records, want %d each", len(a.acked), len(b.acked), n)
	}
	for i := range n {
		if got, want := fingerprint(b.acked[i]), fingerprint(a.acked[i]); got != want {
			t.Fatalf("record %d differs between runs with seed 42:\n got %s\nwant %s", i, got, want)
		}
	}
	ids := map[string]bool{}
	for _, r := range a.acked {
		ids[r.ID()] = true
	}
	for i, r := range other.acked {
		if ids[r.ID()] {
			t.Fatalf("record %d of seed 43 has id %s, also produced by seed 42", i, r.ID())
		}
	}
	if fingerprint(other.acked[0]) == fingerprint(a.acked[0]) {
		t.Errorf("seeds 42 and 43 start with the same record %s", fingerprint(a.acked[0]))
	}
}

func TestRecordsValidate(t *testing.T) {
	rec, _ := generate(t, Config{Seed: 7, MaxRecords: 30000})
	enc := newIDEncoder(7)
	ids := make(map[string]bool, len(rec.acked))
	orderIDs := map[string]bool{}
	priorities := map[schemas.Priority]int{}
	currencyOf := map[string]string{}
	for _, c := range DefaultCampaigns() {
		currencyOf[c.ID] = c.Currency
	}
	for i, r := range rec.acked {
		if err := schemas.Validate(r); err != nil {
			t.Fatalf("record %d (%s) does not validate: %v", i, fingerprint(r), err)
		}
		if got, want := len(r.ID()), schemas.EventIDLen; got != want {
			t.Fatalf("record %d id %q has %d characters, want %d", i, r.ID(), got, want)
		}
		if ids[r.ID()] {
			t.Fatalf("record %d repeats event id %s", i, r.ID())
		}
		ids[r.ID()] = true
		if want := enc.eventID(uint64(i)); r.ID() != want {
			t.Fatalf("record %d has id %s, want %s", i, r.ID(), want)
		}
		if o, ok := r.(*schemas.Order); ok {
			if orderIDs[o.OrderID] {
				t.Fatalf("record %d repeats order id %s", i, o.OrderID)
			}
			orderIDs[o.OrderID] = true
			if len(o.Items) < 1 || len(o.Items) > maxLines {
				t.Errorf("order %s has %d items, want 1..%d", o.OrderID, len(o.Items), maxLines)
			}
			if got, want := o.Currency, currencyOf[o.CampaignID]; got != want {
				t.Errorf("order %s of %s is in %s, want %s", o.OrderID, o.CampaignID, got, want)
			}
			priorities[o.Priority]++
		}
	}
	if len(orderIDs) == 0 {
		t.Fatal("no orders in 30000 records")
	}
	for _, p := range []schemas.Priority{schemas.PriorityNormal, schemas.PriorityVIP, schemas.PriorityUrgent} {
		if priorities[p] == 0 {
			t.Errorf("no order with priority %s among %d (%v)", p, len(orderIDs), priorities)
		}
	}
}

// cartState follows one session through its user events.
type cartState struct {
	campaign string
	views    int
	searched bool
	cart     map[string]bool
	checkout bool
}

func TestFunnelOrderPerUser(t *testing.T) {
	rec, _ := generate(t, Config{Seed: 3, MaxRecords: 50000, Users: 2000})
	sessions := map[string]*cartState{}
	closed := map[string]bool{}
	sessionUser := map[string]string{}
	lastSession := map[string]string{} // user → latest session
	orderStatus := map[string]schemas.OrderStatusValue{}
	orderUser := map[string]string{}
	var orders, statuses int
	for i, r := range rec.acked {
		switch v := r.(type) {
		case *schemas.UserEvent:
			if closed[v.SessionID] {
				t.Fatalf("record %d: session %s goes on after it ended or its user opened another", i, v.SessionID)
			}
			s := sessions[v.SessionID]
			if s == nil {
				if v.Type != schemas.EventPageView || v.SKU != "" {
					t.Fatalf("record %d: session %s starts with %s %q, want a landing page_view", i, v.SessionID, v.Type, v.SKU)
				}
				if prev := lastSession[v.UserID]; prev != "" {
					delete(sessions, prev) // one session at a time: the previous one has ended
					closed[prev] = true
				}
				s = &cartState{campaign: v.CampaignID, cart: map[string]bool{}}
				sessions[v.SessionID] = s
				sessionUser[v.SessionID] = v.UserID
				lastSession[v.UserID] = v.SessionID
			}
			if sessionUser[v.SessionID] != v.UserID || s.campaign != v.CampaignID {
				t.Fatalf("record %d: session %s changes user or campaign", i, v.SessionID)
			}
			switch v.Type {
			case schemas.EventPageView:
				if s.searched {
					t.Fatalf("record %d: page_view after search in session %s", i, v.SessionID)
				}
				s.views++
			case schemas.EventSearch:
				if s.views == 0 || s.searched {
					t.Fatalf("record %d: search without page_view or twice in session %s", i, v.SessionID)
				}
				s.searched = true
			case schemas.EventAddToCart:
				if !s.searched || s.checkout {
					t.Fatalf("record %d: add_to_cart before search or after checkout in session %s", i, v.SessionID)
				}
				s.cart[v.SKU] = true
			case schemas.EventRemoveFromCart:
				if !s.cart[v.SKU] || len(s.cart) < 2 {
					t.Fatalf("record %d: remove_from_cart of %s, cart %v", i, v.SKU, s.cart)
				}
				delete(s.cart, v.SKU)
			case schemas.EventCheckoutStarted:
				if len(s.cart) == 0 || s.checkout {
					t.Fatalf("record %d: checkout_started with an empty cart or twice in session %s", i, v.SessionID)
				}
				s.checkout = true
			default:
				t.Fatalf("record %d: unexpected event type %s", i, v.Type)
			}
		case *schemas.Order:
			orders++
			sid := lastSession[v.UserID]
			s := sessions[sid]
			if s == nil || !s.checkout {
				t.Fatalf("record %d: order %s of %s without checkout_started in the user's session", i, v.OrderID, v.UserID)
			}
			var skus []string
			var sum int64
			for _, it := range v.Items {
				skus = append(skus, it.SKU)
				sum += it.Qty * it.UnitPrice
			}
			var cart []string
			for sku := range s.cart {
				cart = append(cart, sku)
			}
			sort.Strings(skus)
			sort.Strings(cart)
			if !slices.Equal(skus, cart) {
				t.Fatalf("record %d: order items %v, want the session's cart %v", i, skus, cart)
			}
			if v.Amount != sum || v.CampaignID != s.campaign {
				t.Fatalf("record %d: order amount %d campaign %s, want %d %s", i, v.Amount, v.CampaignID, sum, s.campaign)
			}
			delete(sessions, sid) // the order closes the session
			closed[sid] = true
			orderStatus[v.OrderID] = schemas.StatusCreated
			orderUser[v.OrderID] = v.UserID
		case *schemas.OrderStatus:
			statuses++
			prev, ok := orderStatus[v.OrderID]
			if !ok || orderUser[v.OrderID] != v.UserID {
				t.Fatalf("record %d: status %s for unknown order %s of %s", i, v.Status, v.OrderID, v.UserID)
			}
			want := map[schemas.OrderStatusValue]schemas.OrderStatusValue{
				schemas.StatusPaid: schemas.StatusCreated, schemas.StatusCancelled: schemas.StatusCreated,
				schemas.StatusShipped: schemas.StatusPaid,
			}[v.Status]
			if prev != want {
				t.Fatalf("record %d: order %s goes %s → %s, want from %s", i, v.OrderID, prev, v.Status, want)
			}
			orderStatus[v.OrderID] = v.Status
		}
	}
	if orders < 100 || statuses < 100 {
		t.Errorf("got %d orders and %d statuses in 50000 records, want at least 100 of each", orders, statuses)
	}
}

func TestPopulation(t *testing.T) {
	const users = 10000
	m := newModel(11, users, 0.05, DefaultCampaigns())
	vips := 0
	for u := range users {
		if m.pop.vip(u) {
			vips++
		}
	}
	if got, want := vips, 500; got != want {
		t.Errorf("VIP users = %d, want %d", got, want)
	}
	if got, want := m.pop.id(123), "u-000123"; got != want {
		t.Errorf("id(123) = %q, want %q", got, want)
	}

	sessionsByUser := map[string]int{}
	type sess struct {
		vip   bool
		order bool
	}
	sessions := map[string]*sess{}
	last := map[string]string{}
	var meta recMeta
	for range 300000 {
		switch v := m.next(time.Now(), &meta).(type) {
		case *schemas.UserEvent:
			if sessions[v.SessionID] == nil {
				u, err := strconv.Atoi(v.UserID[2:])
				if err != nil {
					t.Fatalf("user id %q: %v", v.UserID, err)
				}
				sessions[v.SessionID] = &sess{vip: m.pop.vip(u)}
				sessionsByUser[v.UserID]++
				last[v.UserID] = v.SessionID
			}
		case *schemas.Order:
			s := sessions[last[v.UserID]]
			s.order = true
			if got, want := v.Priority == schemas.PriorityVIP, s.vip; got != want {
				t.Fatalf("order %s has priority %s, VIP user %v", v.OrderID, v.Priority, want)
			}
		}
	}

	counts := make([]int, 0, len(sessionsByUser))
	total := 0
	for _, c := range sessionsByUser {
		counts = append(counts, c)
		total += c
	}
	sort.Sort(sort.Reverse(sort.IntSlice(counts)))
	top := 0
	for _, c := range counts[:users/100] {
		top += c
	}
	if share := float64(top) / float64(total); share < 0.15 {
		t.Errorf("the most active 1%% of users start %.1f%% of sessions, want at least 15%%", 100*share)
	}

	var conv [2]struct{ sessions, orders int }
	for _, s := range sessions {
		i := 0
		if s.vip {
			i = 1
		}
		conv[i].sessions++
		if s.order {
			conv[i].orders++
		}
	}
	normal := float64(conv[0].orders) / float64(conv[0].sessions)
	vip := float64(conv[1].orders) / float64(conv[1].sessions)
	if normal < 0.05 || normal > 0.12 {
		t.Errorf("normal conversion = %.3f, want about 0.086", normal)
	}
	if vip < 2*normal {
		t.Errorf("VIP conversion = %.3f, want at least twice the normal %.3f", vip, normal)
	}
}

func TestCatalogPrices(t *testing.T) {
	cats := newCatalogs(5, DefaultCampaigns())
	for i, c := range DefaultCampaigns() {
		cat := cats[i]
		if got, want := len(cat.skus), c.SKUs; got != want {
			t.Fatalf("%s has %d SKUs, want %d", c.ID, got, want)
		}
		exp, _ := schemas.CurrencyExponent(c.Currency)
		nice := 0
		for k, p := range cat.prices {
			if p < c.MinPrice || p > c.MaxPrice {
				t.Fatalf("%s price of %s = %d, want %d..%d", c.ID, cat.skus[k], p, c.MinPrice, c.MaxPrice)
			}
			if exp == 2 && p%100 == 99 || exp == 0 && p%10 == 0 {
				nice++
			}
		}
		if nice < len(cat.prices)*9/10 {
			t.Errorf("%s: %d of %d prices are shop-rounded, want at least 90%%", c.ID, nice, len(cat.prices))
		}
	}
	if got, want := cats[0].skus[42], "black-friday-sku-00042"; got != want {
		t.Errorf("sku 42 = %q, want %q", got, want)
	}
}
