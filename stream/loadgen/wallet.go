package loadgen

import (
	"sync"
	"time"

	"github.com/surgeio/surge/schemas"
)

// DefaultRedeemShare is the share of orders placed by a shopper holding a
// coupon for the order's campaign that redeem it.
const DefaultRedeemShare = 0.8

// walletMaxPerUser bounds the coupons kept per shopper; older ones are
// dropped first.
const walletMaxPerUser = 8

// Wallet holds the coupons shoppers have been issued, so that generated
// sessions can redeem them: a shopper who holds an unexpired coupon for
// the campaign they shop in sends a coupon_redeemed event before
// checking out, and the order carries the coupon id. Feed it with Offer
// from a consumer of the coupons topic (surge up does). It is safe for
// concurrent use. With a wallet the record sequence depends on when
// coupons arrive, so a seed no longer fixes it exactly.
type Wallet struct {
	mu    sync.Mutex
	users map[string][]held
	now   func() time.Time
}

type held struct {
	id       string
	campaign string
	expires  time.Time
}

// NewWallet returns an empty wallet.
func NewWallet() *Wallet { return &Wallet{users: map[string][]held{}, now: time.Now} }

// Offer gives c to its user. A coupon offered twice (a redelivered record)
// is kept once; an expired one is ignored.
func (w *Wallet) Offer(c *schemas.Coupon) {
	if c == nil || c.UserID == "" || c.CouponID == "" {
		return
	}
	now := w.now()
	if !c.ExpiresAt.After(now) {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	hs := w.users[c.UserID]
	for _, h := range hs {
		if h.id == c.CouponID {
			return
		}
	}
	if len(hs) == walletMaxPerUser {
		hs = append(hs[:0], hs[1:]...)
	}
	w.users[c.UserID] = append(hs, held{id: c.CouponID, campaign: c.CampaignID, expires: c.ExpiresAt})
}

// Len is the number of coupons held, expired ones included until they
// are next looked at.
func (w *Wallet) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, hs := range w.users {
		n += len(hs)
	}
	return n
}

// take removes and returns a coupon user holds for campaign, unexpired at
// now; expired coupons met on the way are dropped.
func (w *Wallet) take(user, campaign string, now time.Time) (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	hs, ok := w.users[user]
	if !ok {
		return "", false
	}
	kept := hs[:0]
	var id string
	for _, h := range hs {
		switch {
		case !h.expires.After(now):
		case id == "" && h.campaign == campaign:
			id = h.id
		default:
			kept = append(kept, h)
		}
	}
	if len(kept) == 0 {
		delete(w.users, user)
	} else {
		w.users[user] = kept
	}
	return id, id != ""
}
