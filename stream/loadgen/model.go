package loadgen

import (
	"math/rand/v2"
	"time"

	"github.com/surgeio/surge/schemas"
)

// Funnel probabilities, normal user / VIP. See the package documentation.
type funnel struct {
	moreViews float64 // another page view after one
	search    float64 // search after browsing
	cart      float64 // add to cart after searching
	moreItems float64 // another add_to_cart (cart below maxLines)
	remove    float64 // remove a line (cart of two or more)
	checkout  float64 // start checkout with a cart
	order     float64 // place the order after checkout_started
	paid      float64 // order paid (else cancelled)
	shipped   float64 // paid order shipped
	urgent    float64 // non-VIP order flagged urgent
}

var (
	normalFunnel = funnel{moreViews: 0.55, search: 0.55, cart: 0.45, moreItems: 0.35, remove: 0.12, checkout: 0.50, order: 0.70, paid: 0.92, shipped: 0.95, urgent: 0.04}
	vipFunnel    = funnel{moreViews: 0.65, search: 0.70, cart: 0.60, moreItems: 0.45, remove: 0.12, checkout: 0.70, order: 0.88, paid: 0.97, shipped: 0.98}
)

// Limits of one session.
const (
	maxViews = 8 // page views before the search step
	maxLines = 5 // order lines
)

// Status delays, in records generated in between: an order is paid or
// cancelled payDelay records after it was placed, and shipped shipDelay
// records after it was paid (base + uniform extra).
var (
	payDelay    = delay{20, 400}
	cancelDelay = delay{50, 1000}
	shipDelay   = delay{200, 3000}
)

type delay struct{ base, extra uint64 }

func (d delay) draw(rng *rand.Rand) uint64 { return d.base + rng.Uint64N(d.extra) }

// Session states: the event the session emits next.
const (
	stView uint8 = iota
	stSearch
	stAdd
	stRemove
	stCheckout
	stOrder
)

type line struct {
	sku int32
	qty int32
}

// session is one user's visit, walking the funnel one event per step.
type session struct {
	open      bool
	state     uint8
	views     uint8 // page views emitted
	vip       bool
	camp      int32
	user      int32
	userID    string
	sessionID string
	cart      [maxLines]line
	lines     int
	couponTry bool   // the wallet was looked at before ordering
	coupon    string // coupon the order redeems
}

// recMeta is what the stats need to know about a record once it is done.
type recMeta struct {
	kind   uint8 // ki* index
	etype  uint8 // et* index, for user events
	camp   int32 // orders
	user   int32 // orders
	amount int64 // orders
	coupon bool  // orders: carries a coupon
}

// Indexes of the kinds and event types the generator emits.
const (
	kiOrder uint8 = iota
	kiStatus
	kiUserEvent
	numKinds
)

var kindNames = [numKinds]schemas.Kind{schemas.KindOrder, schemas.KindOrderStatus, schemas.KindUserEvent}

const (
	etPageView uint8 = iota
	etSearch
	etAddToCart
	etRemoveFromCart
	etCheckoutStarted
	etCouponRedeemed
	numEventTypes
)

var eventTypeNames = [numEventTypes]schemas.EventType{
	schemas.EventPageView, schemas.EventSearch, schemas.EventAddToCart,
	schemas.EventRemoveFromCart, schemas.EventCheckoutStarted, schemas.EventCouponRedeemed,
}

// model generates the record sequence. It is deterministic given the seed
// and used from one goroutine only.
type model struct {
	seed  uint64
	ids   idEncoder
	rng   *rand.Rand
	pop   *population
	cats  []catalog
	camps campaignPicker

	slots   []session // open sessions, interleaved at random
	pending statusQueue

	wallet *Wallet // coupons shoppers may redeem; nil: none
	redeem float64 // share of coupon holders' orders that redeem one

	step      uint64 // records generated so far; the next event id counter
	orders    uint64 // order id counter
	nSessions uint64 // session id counter
}

// maxOpenSessions bounds the sessions open at once. More open sessions
// interleave more but flatten the activity skew, since a user with an open
// session is passed over when drawn again; 256 keeps both. At most an eighth
// of the users have a session open, so a free user is always at hand.
const maxOpenSessions = 256

func newModel(seed uint64, users int, vipShare float64, cs []Campaign) *model {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	m := &model{seed: seed, ids: newIDEncoder(seed), rng: rng}
	m.pop = newPopulation(rng, users, vipShare)
	m.cats = newCatalogs(seed, cs)
	m.camps = newCampaignPicker(cs)
	m.slots = make([]session, min(max(users/8, 1), maxOpenSessions))
	return m
}

func (m *model) chance(p float64) bool { return m.rng.Float64() < p }

// next generates the next record at wall-clock time now and describes it in
// meta. A status that has come due goes first; otherwise a random session
// slot takes its next step, opening a new session if the slot is free.
func (m *model) next(now time.Time, meta *recMeta) schemas.Record {
	n := m.step
	m.step++
	if due, ok := m.pending.peekDue(); ok && due <= n {
		return m.status(m.pending.pop(), n, now, meta)
	}
	s := &m.slots[m.rng.IntN(len(m.slots))]
	if !s.open {
		m.open(s)
	}
	return m.advance(s, n, now, meta)
}

func (m *model) open(s *session) {
	u := m.pop.pick(m.rng)
	*s = session{
		open:      true,
		state:     stView,
		vip:       m.pop.vip(u),
		camp:      int32(m.camps.pick(m.rng)),
		user:      int32(u),
		userID:    m.pop.id(u),
		sessionID: m.ids.prefixedID("s-", m.nSessions),
	}
	m.nSessions++
}

func (m *model) close(s *session) {
	s.open = false
	m.pop.clearBusy(int(s.user))
}

// advance emits session s's next event and moves it along the funnel.
func (m *model) advance(s *session, n uint64, now time.Time, meta *recMeta) schemas.Record {
	f := &normalFunnel
	if s.vip {
		f = &vipFunnel
	}
	cat := &m.cats[s.camp]
	switch s.state {
	case stView:
		var sku string
		if s.views > 0 { // the first view is the campaign's landing page
			sku = cat.skus[cat.popular.draw(m.rng)]
		}
		s.views++
		switch {
		case s.views < maxViews && m.chance(f.moreViews):
		case m.chance(f.search):
			s.state = stSearch
		default:
			m.close(s)
		}
		return m.userEvent(s, n, etPageView, sku, now, meta)
	case stSearch:
		if m.chance(f.cart) {
			s.state = stAdd
		} else {
			m.close(s)
		}
		return m.userEvent(s, n, etSearch, "", now, meta)
	case stAdd:
		k := cat.popular.draw(m.rng)
		m.addToCart(s, k)
		switch {
		case s.lines >= 2 && m.chance(f.remove):
			s.state = stRemove
		case s.lines < maxLines && m.chance(f.moreItems):
		case m.chance(f.checkout):
			s.state = stCheckout
		default:
			m.close(s)
		}
		return m.userEvent(s, n, etAddToCart, cat.skus[k], now, meta)
	case stRemove:
		j := m.rng.IntN(s.lines)
		sku := cat.skus[s.cart[j].sku]
		copy(s.cart[j:s.lines], s.cart[j+1:s.lines])
		s.lines--
		if m.chance(f.checkout) {
			s.state = stCheckout
		} else {
			m.close(s)
		}
		return m.userEvent(s, n, etRemoveFromCart, sku, now, meta)
	case stCheckout:
		if m.chance(f.order) {
			s.state = stOrder
		} else {
			m.close(s)
		}
		return m.userEvent(s, n, etCheckoutStarted, "", now, meta)
	default: // stOrder
		if m.wallet != nil && !s.couponTry {
			// A shopper holding a coupon for this campaign mostly
			// redeems it: the redemption event, then the order.
			s.couponTry = true
			if m.chance(m.redeem) {
				if id, ok := m.wallet.take(s.userID, cat.id, now); ok {
					s.coupon = id
					return m.userEvent(s, n, etCouponRedeemed, "", now, meta)
				}
			}
		}
		m.close(s)
		return m.order(s, f, cat, n, now, meta)
	}
}

// addToCart adds 1–3 units of SKU k (mostly 1), to its line if the cart has
// one.
func (m *model) addToCart(s *session, k int32) {
	qty := int32(1)
	switch r := m.rng.IntN(20); {
	case r == 19:
		qty = 3
	case r >= 16:
		qty = 2
	}
	for i := range s.lines {
		if s.cart[i].sku == k {
			s.cart[i].qty += qty
			return
		}
	}
	s.cart[s.lines] = line{sku: k, qty: qty}
	s.lines++
}

func (m *model) userEvent(s *session, n uint64, et uint8, sku string, now time.Time, meta *recMeta) *schemas.UserEvent {
	*meta = recMeta{kind: kiUserEvent, etype: et}
	return &schemas.UserEvent{
		EventID:    m.ids.eventID(n),
		Version:    schemas.CurrentVersion,
		UserID:     s.userID,
		SessionID:  s.sessionID,
		Type:       eventTypeNames[et],
		SKU:        sku,
		CampaignID: m.cats[s.camp].id,
		TS:         now,
	}
}

// order places session s's cart as an order and schedules its payment or
// cancellation.
func (m *model) order(s *session, f *funnel, cat *catalog, n uint64, now time.Time, meta *recMeta) *schemas.Order {
	items := make([]schemas.Item, s.lines)
	var amount int64
	for i, l := range s.cart[:s.lines] {
		p := cat.prices[l.sku]
		items[i] = schemas.Item{SKU: cat.skus[l.sku], Qty: int64(l.qty), UnitPrice: p}
		amount += int64(l.qty) * p
	}
	prio := schemas.PriorityNormal
	switch {
	case s.vip:
		prio = schemas.PriorityVIP
	case m.chance(f.urgent):
		prio = schemas.PriorityUrgent
	}
	o := &schemas.Order{
		EventID:    m.ids.eventID(n),
		Version:    schemas.CurrentVersion,
		OrderID:    m.ids.prefixedID("o-", m.orders),
		UserID:     s.userID,
		Items:      items,
		Amount:     amount,
		Currency:   cat.currency,
		CampaignID: cat.id,
		Priority:   prio,
		CouponID:   s.coupon,
		CreatedAt:  now,
	}
	m.orders++
	next := pendingStatus{orderID: o.OrderID, userID: s.userID, priority: prio, vip: s.vip}
	if m.chance(f.paid) {
		next.status, next.due = schemas.StatusPaid, n+payDelay.draw(m.rng)
	} else {
		next.status, next.due = schemas.StatusCancelled, n+cancelDelay.draw(m.rng)
	}
	m.pending.push(next)
	*meta = recMeta{kind: kiOrder, camp: s.camp, user: s.user, amount: amount, coupon: s.coupon != ""}
	return o
}

// status emits a scheduled status change; a payment may schedule shipping.
func (m *model) status(p pendingStatus, n uint64, now time.Time, meta *recMeta) *schemas.OrderStatus {
	if p.status == schemas.StatusPaid {
		f := &normalFunnel
		if p.vip {
			f = &vipFunnel
		}
		if m.chance(f.shipped) {
			next := p
			next.status, next.due = schemas.StatusShipped, n+shipDelay.draw(m.rng)
			m.pending.push(next)
		}
	}
	*meta = recMeta{kind: kiStatus}
	return &schemas.OrderStatus{
		EventID:  m.ids.eventID(n),
		Version:  schemas.CurrentVersion,
		OrderID:  p.orderID,
		UserID:   p.userID,
		Status:   p.status,
		Priority: p.priority,
		TS:       now,
	}
}
