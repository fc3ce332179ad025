package loadgen

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/surgeio/surge/schemas"
)

// TestWalletRedemption fills a wallet with a valid and an expired coupon
// per shopper and campaign, and checks the run: orders redeem only valid
// coupons of their own campaign, each coupon at most once, each right
// after the shopper's coupon_redeemed event, and the stats count them.
func TestWalletRedemption(t *testing.T) {
	const users = 2000
	w := NewWallet()
	probe, err := New(Config{Users: users, Seed: 5}, func(_ context.Context, _ schemas.Record, done func(error)) { done(nil) })
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	valid := map[string]string{} // coupon id -> "user/campaign"
	for u := range users {
		id := probe.model.pop.id(u)
		for _, c := range DefaultCampaigns() {
			cid := fmt.Sprintf("c-%s-%s", id, c.ID)
			valid[cid] = id + "/" + c.ID
			w.Offer(&schemas.Coupon{CouponID: cid, UserID: id, CampaignID: c.ID, ExpiresAt: now.Add(time.Hour)})
			w.Offer(&schemas.Coupon{CouponID: cid, UserID: id, CampaignID: c.ID, ExpiresAt: now.Add(time.Hour)}) // redelivered
		}
		w.Offer(&schemas.Coupon{CouponID: "expired-" + id, UserID: id, CampaignID: DefaultCampaigns()[0].ID, ExpiresAt: now.Add(-time.Second)})
	}
	if got, want := w.Len(), users*len(DefaultCampaigns()); got != want {
		t.Fatalf("wallet holds %d coupons, want %d (duplicates and expired ones dropped)", got, want)
	}

	rec, st := generate(t, Config{Users: users, Seed: 5, MaxRecords: 60_000, Wallet: w, RedeemShare: 1})
	used := map[string]bool{}
	lastRedeem := map[string]bool{} // user -> the previous record was coupon_redeemed
	var couponOrders, redeemEvents int64
	for _, r := range rec.acked {
		switch v := r.(type) {
		case *schemas.UserEvent:
			if v.Type == schemas.EventCouponRedeemed {
				redeemEvents++
				lastRedeem[v.UserID] = true
				continue
			}
			lastRedeem[v.UserID] = false
		case *schemas.Order:
			if v.CouponID != "" {
				couponOrders++
				if owner, ok := valid[v.CouponID]; !ok || owner != v.UserID+"/"+v.CampaignID {
					t.Errorf("order %s of %s in %s redeems coupon %s (owner %q)", v.OrderID, v.UserID, v.CampaignID, v.CouponID, owner)
				}
				if used[v.CouponID] {
					t.Errorf("coupon %s redeemed twice", v.CouponID)
				}
				used[v.CouponID] = true
				if !lastRedeem[v.UserID] {
					t.Errorf("order %s redeems %s without a coupon_redeemed event just before", v.OrderID, v.CouponID)
				}
			}
			lastRedeem[v.UserID] = false
		}
	}
	// A session cut off by the end of the run may have redeemed without
	// ordering yet; at most one per open session.
	if couponOrders == 0 || redeemEvents < couponOrders || redeemEvents > couponOrders+maxOpenSessions {
		t.Errorf("got %d coupon orders and %d coupon_redeemed events, want > 0 orders and at most %d more events (open sessions)",
			couponOrders, redeemEvents, maxOpenSessions)
	}
	var statOrders int64
	for _, c := range st.Campaigns {
		statOrders += c.CouponOrders
	}
	if statOrders != couponOrders {
		t.Errorf("stats count %d coupon orders, the records %d", statOrders, couponOrders)
	}
	if got := st.EventsByType[schemas.EventCouponRedeemed]; got != redeemEvents {
		t.Errorf("stats count %d coupon_redeemed events, the records %d", got, redeemEvents)
	}
	t.Logf("%d orders redeemed a coupon", couponOrders)
}

// TestNoWalletNoCoupons: without a wallet no order carries a coupon.
func TestNoWalletNoCoupons(t *testing.T) {
	rec, _ := generate(t, Config{Users: 500, Seed: 5, MaxRecords: 20_000})
	for _, r := range rec.acked {
		if o, ok := r.(*schemas.Order); ok && o.CouponID != "" {
			t.Fatalf("order %s carries coupon %s without a wallet", o.OrderID, o.CouponID)
		}
		if e, ok := r.(*schemas.UserEvent); ok && e.Type == schemas.EventCouponRedeemed {
			t.Fatalf("coupon_redeemed event %s without a wallet", e.EventID)
		}
	}
}

func TestRedeemShareChecked(t *testing.T) {
	for _, v := range []float64{-0.1, 1.5} {
		if _, err := New(Config{RedeemShare: v}, func(_ context.Context, _ schemas.Record, done func(error)) { done(nil) }); err == nil {
			t.Errorf("RedeemShare %v: got no error", v)
		}
	}
}
