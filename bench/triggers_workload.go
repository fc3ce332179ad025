package main

import (
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
)

// benchRules is a campaign rules file of 20 active rules in the style of
// deploy/rules/holiday.yaml: every kind, filters on campaign, category and
// VIP, budgets and caps. Over the workload of benchWorkload about 2% of the
// events earn a coupon (the run prints the exact share).
const benchRules = `lateness: 30s
categories:
  electronics: ["el-*"]
  fashion: ["fa-*"]
campaigns:
  - {id: black-friday, timezone: America/New_York, start: "2020-01-01", end: "2030-01-01"}
  - {id: lunar-new-year, timezone: Asia/Shanghai, start: "2020-01-01", end: "2030-01-01"}
rules:
  - {id: cart-3x, campaign: black-friday, kind: count, events: [add_to_cart], count: 3, within: 10m, filter: {campaign_id: black-friday}, coupon: {value: 500, currency: USD, expires: 48h}, budget: {coupons: 100000}}
  - {id: cart-abandoned, campaign: black-friday, kind: absence, events: [add_to_cart], absent: [order, checkout_started], within: 30m, filter: {campaign_id: black-friday, category: [electronics]}, coupon: {value: 300, currency: USD, expires: 24h}, budget: {value: 50000000}}
  - {id: checkout-abandoned, campaign: black-friday, kind: absence, events: [checkout_started], absent: [order], within: 15m, coupon: {value: 500, currency: USD, expires: 24h}}
  - {id: vip-browse, campaign: black-friday, kind: count, events: [page_view], count: 2, within: 1h, filter: {vip: true, category: [electronics]}, coupon: {value: 999, currency: USD, expires: 72h}}
  - {id: red-envelope, campaign: lunar-new-year, kind: sum, threshold: 200000, currency: KRW, coupon: {value: 8888, currency: KRW, expires: 168h}, budget: {coupons: 10000}}
  - {id: big-spender, campaign: black-friday, kind: sum, threshold: 50000, within: 24h, coupon: {value: 2000, currency: USD, expires: 72h}}
  - {id: first-order-lny, campaign: lunar-new-year, kind: first, events: [order], filter: {campaign_id: lunar-new-year}, coupon: {value: 1000, currency: KRW, expires: 72h}, budget: {coupons: 10000}}
  - {id: electronics-fan, campaign: black-friday, kind: count, events: [page_view], count: 6, within: 30m, filter: {category: [electronics]}, coupon: {value: 300, currency: USD, expires: 24h}}
  - {id: fashion-fan, campaign: black-friday, kind: count, events: [page_view], count: 6, within: 30m, filter: {category: [fashion]}, coupon: {value: 300, currency: USD, expires: 24h}}
  - {id: searcher, campaign: black-friday, kind: count, events: [search], count: 4, within: 10m, coupon: {value: 100, currency: USD, expires: 24h}}
  - {id: el-cart, campaign: black-friday, kind: count, events: [add_to_cart], count: 2, within: 1h, filter: {category: [electronics]}, coupon: {value: 700, currency: USD, expires: 24h}}
  - {id: fa-cart, campaign: black-friday, kind: count, events: [add_to_cart], count: 2, within: 1h, filter: {category: [fashion]}, coupon: {value: 700, currency: USD, expires: 24h}}
  - {id: vip-cart, campaign: black-friday, kind: first, events: [add_to_cart], filter: {vip: true}, coupon: {value: 1500, currency: USD, expires: 24h}}
  - {id: repeat-buyer, campaign: black-friday, kind: count, events: [order], count: 2, within: 24h, coupon: {value: 1000, currency: USD, expires: 72h}}
  - {id: lny-browse, campaign: lunar-new-year, kind: count, events: [page_view], count: 8, within: 1h, filter: {campaign_id: lunar-new-year}, coupon: {value: 500, currency: KRW, expires: 24h}}
  - {id: lny-cart-abandoned, campaign: lunar-new-year, kind: absence, events: [add_to_cart], absent: [order], within: 20m, filter: {campaign_id: lunar-new-year}, coupon: {value: 800, currency: KRW, expires: 24h}}
  - {id: bf-first-search, campaign: black-friday, kind: first, events: [search], filter: {campaign_id: black-friday}, coupon: {value: 50, currency: USD, expires: 24h}, budget: {coupons: 2000}}
  - {id: high-value-el, campaign: black-friday, kind: sum, threshold: 100000, within: 1h, filter: {category: [electronics]}, coupon: {value: 5000, currency: USD, expires: 72h}}
  - {id: hesitant, campaign: black-friday, kind: count, events: [remove_from_cart], count: 3, within: 10m, coupon: {value: 200, currency: USD, expires: 24h}}
  - {id: lny-checkout, campaign: lunar-new-year, kind: first, events: [checkout_started], filter: {campaign_id: lunar-new-year}, coupon: {value: 300, currency: KRW, expires: 24h}, budget: {coupons: 5000}}
`

// benchWorkload generates shopping sessions the way a campaign peak looks:
// 4,096 sessions open at a time, each of a random user out of users
// (1 in 50 a VIP), most browsing a few pages, some searching, a third
// adding to cart, fewer checking out and ordering; 80% of the sessions come
// from the Black Friday campaign, 10% from Lunar New Year (KRW). Records
// are in event-time order, step apart; ordered by user key like surge's
// producers. next returns the next record and its event id.
type benchWorkload struct {
	rng      *rand.Rand
	users    int
	sessions []benchSession
	topics   stream.Topics
	now      func(i int) time.Time
	i        int
}

type benchSession struct {
	user, campaign, currency string
	vip                      bool
	views, searches, carts   int
	removes                  int
	checkout, order          bool
	cart                     []string
}

func newBenchWorkload(seed uint64, users int, topics stream.Topics, now func(i int) time.Time) *benchWorkload {
	w := &benchWorkload{rng: rand.New(rand.NewPCG(seed, seed+1)), users: users, topics: topics, now: now}
	w.sessions = make([]benchSession, 4096)
	for i := range w.sessions {
		w.sessions[i] = w.session()
	}
	return w
}

func (w *benchWorkload) session() benchSession {
	u := w.rng.IntN(w.users)
	s := benchSession{user: "u-" + strconv.Itoa(u), vip: u%50 == 0, currency: "USD", views: 1 + w.rng.IntN(8)}
	switch c := w.rng.IntN(10); {
	case c < 8:
		s.campaign = "black-friday"
	case c == 8:
		s.campaign, s.currency = "lunar-new-year", "KRW"
	}
	if w.rng.IntN(100) < 35 {
		s.searches = 1 + w.rng.IntN(2)
	}
	if w.rng.IntN(100) < 30 {
		s.carts = 1 + w.rng.IntN(3)
		s.removes = w.rng.IntN(2)
		s.checkout = w.rng.IntN(100) < 40
		s.order = s.checkout && w.rng.IntN(100) < 70
	}
	return s
}

func (w *benchWorkload) sku() string {
	switch n := w.rng.IntN(100); {
	case n < 20:
		return "el-" + strconv.Itoa(n)
	case n < 45:
		return "fa-" + strconv.Itoa(n)
	default:
		return "hm-" + strconv.Itoa(n)
	}
}

// next returns the next record of some open session.
func (w *benchWorkload) next() (*kgo.Record, string) {
	k := w.rng.IntN(len(w.sessions))
	s := &w.sessions[k]
	ts := w.now(w.i)
	w.i++
	id := schemas.NewEventID()
	ue := func(t schemas.EventType, sku string) schemas.Record {
		return &schemas.UserEvent{EventID: id, UserID: s.user, SessionID: "s", Type: t, SKU: sku, CampaignID: s.campaign, TS: ts}
	}
	var r schemas.Record
	switch {
	case s.views > 0:
		s.views--
		r = ue(schemas.EventPageView, w.sku())
	case s.searches > 0:
		s.searches--
		r = ue(schemas.EventSearch, "")
	case s.carts > 0:
		s.carts--
		sku := w.sku()
		s.cart = append(s.cart, sku)
		r = ue(schemas.EventAddToCart, sku)
	case s.removes > 0:
		s.removes--
		r = ue(schemas.EventRemoveFromCart, s.cart[0])
	case s.checkout:
		s.checkout = false
		r = ue(schemas.EventCheckoutStarted, "")
	case s.order:
		s.order = false
		items := make([]schemas.Item, len(s.cart))
		var amount int64
		for i, sku := range s.cart {
			price := int64(500 + w.rng.IntN(30_000))
			if s.currency == "KRW" {
				price *= 10
			}
			items[i] = schemas.Item{SKU: sku, Qty: 1, UnitPrice: price}
			amount += price
		}
		pr := schemas.PriorityNormal
		if s.vip {
			pr = schemas.PriorityVIP
		}
		r = &schemas.Order{EventID: id, OrderID: "o-" + id, UserID: s.user, Items: items, Amount: amount,
			Currency: s.currency, CampaignID: s.campaign, Priority: pr, CreatedAt: ts}
	default:
		*s = w.session()
		return w.next()
	}
	if s.views == 0 && s.searches == 0 && s.carts == 0 && s.removes == 0 && !s.checkout && !s.order {
		*s = w.session()
	}
	v, err := schemas.Encode(r)
	if err != nil {
		panic(err)
	}
	return &kgo.Record{Topic: w.topics.Route(r), Key: []byte(r.Key()), Value: v}, id
}
