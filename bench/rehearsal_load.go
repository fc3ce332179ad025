package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream/control"
)

// Shape of the rehearsal's orders: every shopper session is an order
// followed by its "paid" and "shipped" status changes, all keyed by the
// shopper, so that a key has records close together in time and a resize
// catches many keys with records both behind and ahead of it.
const (
	rhUsers     = 20_000
	rhPaidAfter = 50 * time.Millisecond
	rhShipAfter = 150 * time.Millisecond
	rhAmount    = 1999
)

// rhUserIDs returns n user ids spread evenly over the partitions of a
// topic of parts partitions (murmur2, as surge's producers partition), so
// that the one-at-a-time side's load per partition does not depend on how
// the hash happened to fall; after a resize they spread as the hash does.
func rhUserIDs(n, parts int) []string {
	quota := (n + parts - 1) / parts
	per := make([]int, parts)
	out := make([]string, 0, n)
	for i := 0; len(out) < n; i++ {
		id := fmt.Sprintf("u-%06d", i)
		p := control.KeyPartition([]byte(id), int32(parts))
		if per[p] < quota {
			per[p]++
			out = append(out, id)
		}
	}
	return out
}

// rhFollowUp is a status change due at a time.
type rhFollowUp struct {
	due    time.Time
	user   int
	order  string
	status schemas.OrderStatusValue
}

// rhLoad makes the rehearsal's records: each call of next is one record
// due now; a status change that is due goes first, else a new order of a
// random shopper starts a session. At a fixed record rate r that is r/3
// sessions a second.
type rhLoad struct {
	rng     *rand.Rand
	users   []string
	prefix  string // event id prefix, unique per side
	paid    []rhFollowUp
	shipped []rhFollowUp // both queues are in due order: fixed delays
	orders  int
}

func newRHLoad(seed uint64, users []string, prefix string) *rhLoad {
	return &rhLoad{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), users: users, prefix: prefix}
}

// next returns the record with event id prefix-n and its user's index.
func (l *rhLoad) next(n int, now time.Time) (schemas.Record, int) {
	id := l.prefix + strconv.Itoa(n)
	q := &l.paid
	if len(l.shipped) > 0 && (len(l.paid) == 0 || l.shipped[0].due.Before(l.paid[0].due)) {
		q = &l.shipped
	}
	if len(*q) > 0 && !(*q)[0].due.After(now) {
		f := (*q)[0]
		*q = (*q)[1:]
		return &schemas.OrderStatus{EventID: id, OrderID: f.order, UserID: l.users[f.user], Status: f.status,
			Priority: schemas.PriorityNormal, TS: now}, f.user
	}
	u := l.rng.IntN(len(l.users))
	l.orders++
	order := "o-" + l.prefix + strconv.Itoa(l.orders)
	l.paid = append(l.paid, rhFollowUp{due: now.Add(rhPaidAfter), user: u, order: order, status: schemas.StatusPaid})
	l.shipped = append(l.shipped, rhFollowUp{due: now.Add(rhShipAfter), user: u, order: order, status: schemas.StatusShipped})
	return &schemas.Order{EventID: id, OrderID: order, UserID: l.users[u],
		Items:  []schemas.Item{{SKU: "sku-" + strconv.Itoa(l.rng.IntN(500)), Qty: 1, UnitPrice: rhAmount}},
		Amount: rhAmount, Currency: "EUR", CampaignID: "black-friday", Priority: schemas.PriorityNormal, CreatedAt: now}, u
}

// rhIndex parses the record number out of an event id made by next.
func rhIndex(eventID string) (int, bool) {
	i := strings.LastIndexByte(eventID, '-')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(eventID[i+1:])
	return n, err == nil && n >= 0
}
