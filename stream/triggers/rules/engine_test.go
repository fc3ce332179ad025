package rules

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC).UnixMilli()

const minute = int64(60_000)

// ruleSet builds a set with one UTC campaign over 2026 and the given rules.
func ruleSet(t testing.TB, lateness string, rules string) *Set {
	t.Helper()
	doc := fmt.Sprintf(`lateness: %s
categories:
  shoes: ["shoe-*"]
campaigns:
  - {id: c, timezone: UTC, start: "2026-01-01 00:00", end: "2027-01-01 00:00"}
rules:
%s`, lateness, rules)
	s, err := Parse("test.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return s
}

// in is one input: an event at offset at (from t0) on a channel. tick > 0
// instead ticks the processing clock to t0+tick; adv > 0 advances the
// watermark to t0+adv; idle declares channel ch idle at processing time
// t0+at.
type in struct {
	typ, user, sku, campaign string
	at                       int64
	amount                   int64
	currency                 string
	vip                      bool
	ch                       int
	tick, adv                int64
	idle                     bool
}

func idleAt(ch int, at int64) in { return in{idle: true, ch: ch, at: at} }

func ue(typ string, at int64) in { return in{typ: typ, at: at, ch: ChannelUserEvents} }
func order(amount, at int64) in {
	return in{typ: "order", at: at, amount: amount, currency: "USD", ch: ChannelOrders}
}

// run feeds inputs to a fresh partition and returns the issued coupons and
// how many events were late. Channels no event uses are idle from the
// start, as the live runner declares an empty input.
func run(t testing.TB, set *Set, ins []in) ([]Issue, int64) {
	t.Helper()
	p := NewPartition(set, 0, 1, 5*time.Second)
	var used [numChannels]bool
	for _, x := range ins {
		if x.tick == 0 && x.adv == 0 && !x.idle {
			used[x.ch] = true
		}
	}
	for ch, u := range used {
		if !u {
			p.SetIdle(ch, t0)
		}
	}
	var out []Issue
	for i, x := range ins {
		switch {
		case x.tick > 0:
			out = p.Tick(t0+x.tick, out)
		case x.adv > 0:
			out = p.AdvanceTo(t0+x.adv, out)
		case x.idle:
			p.SetIdle(x.ch, t0+x.at)
		default:
			user := x.user
			if user == "" {
				user = "u1"
			}
			ev := Event{ID: fmt.Sprintf("e%d", i), User: user, Type: x.typ, SKU: x.sku, Campaign: x.campaign,
				Amount: x.amount, Currency: x.currency, VIP: x.vip, TS: t0 + x.at}
			out, _ = p.Process(&ev, x.ch, out)
		}
	}
	return out, p.Stats.Late
}

func TestRuleKinds(t *testing.T) {
	count3 := `  - {id: r, campaign: c, kind: count, events: [add_to_cart], count: 3, within: 10m, coupon: {value: 500, currency: USD, expires: 1h}}`
	tests := []struct {
		name     string
		lateness string
		rule     string
		ins      []in
		want     []string // "user/trigger" of each coupon, in order
		late     int64
	}{
		{"count fires on the third within the window", "1m", count3,
			[]in{ue("add_to_cart", 0), ue("add_to_cart", 5*minute), ue("add_to_cart", 10*minute-1)}, []string{"u1/e2"}, 0},
		{"count window is shorter than within", "1m", count3,
			[]in{ue("add_to_cart", 0), ue("add_to_cart", 5*minute), ue("add_to_cart", 10*minute)}, nil, 0},
		{"count ignores other types", "1m", count3,
			[]in{ue("add_to_cart", 0), ue("page_view", 1), ue("add_to_cart", 2)}, nil, 0},
		{"count caps once per user", "1m", count3,
			[]in{ue("add_to_cart", 0), ue("add_to_cart", 1), ue("add_to_cart", 2), ue("add_to_cart", 3), ue("add_to_cart", 4), ue("add_to_cart", 5)}, []string{"u1/e2"}, 0},
		{"count with cap 2 fires twice on fresh events", "1m",
			strings.Replace(count3, "expires: 1h}", "expires: 1h}, cap: 2", 1),
			[]in{ue("add_to_cart", 0), ue("add_to_cart", 1), ue("add_to_cart", 2), ue("add_to_cart", 3), ue("add_to_cart", 4), ue("add_to_cart", 5)}, []string{"u1/e2", "u1/e5"}, 0},
		{"count out of order within lateness", "1m", count3,
			[]in{ue("add_to_cart", 5*minute), ue("add_to_cart", 4*minute+30_000), ue("add_to_cart", 6*minute)}, []string{"u1/e2"}, 0},
		{"late event is counted and not applied", "1m", count3,
			[]in{ue("add_to_cart", 20*minute), ue("add_to_cart", 21*minute), ue("add_to_cart", 5*minute)}, nil, 1},
		{"count sku filter", "1m",
			`  - {id: r, campaign: c, kind: count, events: [add_to_cart], count: 2, within: 10m, filter: {sku: [a]}, coupon: {value: 5, currency: USD, expires: 1h}}`,
			[]in{{typ: "add_to_cart", sku: "a", ch: ChannelUserEvents}, {typ: "add_to_cart", sku: "b", at: 1, ch: ChannelUserEvents}, {typ: "add_to_cart", sku: "a", at: 2, ch: ChannelUserEvents}}, []string{"u1/e2"}, 0},
		{"count category filter", "1m",
			`  - {id: r, campaign: c, kind: count, events: [page_view], count: 2, within: 10m, filter: {category: [shoes]}, coupon: {value: 5, currency: USD, expires: 1h}}`,
			[]in{{typ: "page_view", sku: "shoe-1", ch: ChannelUserEvents}, {typ: "page_view", sku: "hat-1", at: 1, ch: ChannelUserEvents}, {typ: "page_view", sku: "shoe-9", at: 2, ch: ChannelUserEvents}}, []string{"u1/e2"}, 0},
		{"vip filter needs a vip order first", "1m",
			`  - {id: r, campaign: c, kind: count, events: [page_view], count: 1, within: 10m, filter: {vip: true}, coupon: {value: 5, currency: USD, expires: 1h}}`,
			[]in{ue("page_view", 0), {typ: "order", amount: 100, currency: "USD", vip: true, at: 1, ch: ChannelPriority}, ue("page_view", 2)}, []string{"u1/e2"}, 0},
		{"campaign_id filter", "1m",
			`  - {id: r, campaign: c, kind: first, events: [search], filter: {campaign_id: bf}, coupon: {value: 5, currency: USD, expires: 1h}}`,
			[]in{{typ: "search", campaign: "other", ch: ChannelUserEvents}, {typ: "search", campaign: "bf", at: 1, ch: ChannelUserEvents}}, []string{"u1/e1"}, 0},

		{"sum over the campaign", "1m",
			`  - {id: r, campaign: c, kind: sum, threshold: 200, coupon: {value: 5, currency: USD, expires: 1h}}`,
			[]in{order(100, 0), order(50, 10*24*60*minute), {typ: "order", amount: 500, currency: "EUR", at: 10*24*60*minute + 1, ch: ChannelOrders}, order(50, 20*24*60*minute)}, []string{"u1/e3"}, 0},
		{"sum in a sliding hour: just inside", "1m",
			`  - {id: r, campaign: c, kind: sum, threshold: 200, within: 1h, coupon: {value: 5, currency: USD, expires: 1h}}`,
			[]in{order(150, 0), order(50, 60*minute-1)}, []string{"u1/e1"}, 0},
		{"sum in a sliding hour: just outside", "1m",
			`  - {id: r, campaign: c, kind: sum, threshold: 200, within: 1h, coupon: {value: 5, currency: USD, expires: 1h}}`,
			[]in{order(150, 0), order(50, 60*minute)}, nil, 0},

		{"absence fires once the watermark is past the deadline", "1m",
			`  - {id: r, campaign: c, kind: absence, events: [add_to_cart], absent: [order], within: 30m, coupon: {value: 5, currency: USD, expires: 1h}}`,
			[]in{ue("add_to_cart", 0), {adv: 30 * minute}, {adv: 30*minute + 1}}, []string{"u1/timer:r:" + fmt.Sprint(t0)}, 0},
		{"absence not yet due at the deadline", "1m",
			`  - {id: r, campaign: c, kind: absence, events: [add_to_cart], absent: [order], within: 30m, coupon: {value: 5, currency: USD, expires: 1h}}`,
			[]in{ue("add_to_cart", 0), {adv: 30 * minute}}, nil, 0},
		{"absence cancelled at the deadline after the watermark reached it", "1m",
			// The watermark equals the deadline; a cancel exactly at the
			// deadline is neither late nor too late, whatever the order.
			`  - {id: r, campaign: c, kind: absence, events: [add_to_cart], absent: [checkout_started], within: 30m, coupon: {value: 5, currency: USD, expires: 1h}}`,
			[]in{ue("add_to_cart", 0), {typ: "page_view", user: "u2", at: 31 * minute, ch: ChannelUserEvents}, {tick: 1},
				ue("checkout_started", 30*minute), {adv: 120 * minute}}, nil, 0},
		{"absence cancelled by an order within T", "1m",
			`  - {id: r, campaign: c, kind: absence, events: [add_to_cart], absent: [order], within: 30m, coupon: {value: 5, currency: USD, expires: 1h}}`,
			[]in{ue("add_to_cart", 0), order(100, 30*minute), {adv: 90 * minute}}, nil, 0},
		{"absence cancelled by an order read before the cart event", "1m",
			// orders were read ahead of user events: the order (5m) comes first, the cart (0) after.
			`  - {id: r, campaign: c, kind: absence, events: [add_to_cart], absent: [order], within: 30m, coupon: {value: 5, currency: USD, expires: 1h}}`,
			[]in{order(100, 5*minute), ue("add_to_cart", 0), {adv: 90 * minute}}, nil, 0},
		{"absence: an order read first but after T does not cancel", "1m",
			`  - {id: r, campaign: c, kind: absence, events: [add_to_cart], absent: [order], within: 30m, coupon: {value: 5, currency: USD, expires: 1h}}`,
			[]in{order(100, 31*minute), ue("add_to_cart", 0), {adv: 90 * minute}}, []string{"u1/timer:r:" + fmt.Sprint(t0)}, 0},
		{"absence cancelled by an earlier-read checkout out of order within lateness", "1m",
			`  - {id: r, campaign: c, kind: absence, events: [add_to_cart], absent: [checkout_started], within: 30m, coupon: {value: 5, currency: USD, expires: 1h}}`,
			[]in{ue("checkout_started", 30_000), ue("add_to_cart", 0), {adv: 90 * minute}}, nil, 0},
		{"absence not cancelled by an order after T", "1m",
			`  - {id: r, campaign: c, kind: absence, events: [add_to_cart], absent: [order], within: 30m, coupon: {value: 5, currency: USD, expires: 1h}}`,
			[]in{ue("add_to_cart", 0), order(100, 30*minute+1), {adv: 90 * minute}}, []string{"u1/timer:r:" + fmt.Sprint(t0)}, 0},
		{"absence timer driven by events of another user", "1m",
			`  - {id: r, campaign: c, kind: absence, events: [add_to_cart], absent: [order], within: 30m, coupon: {value: 5, currency: USD, expires: 1h}}`,
			[]in{ue("add_to_cart", 0), {typ: "page_view", user: "u2", at: 31*minute + 1, ch: ChannelUserEvents}, {tick: 1}}, []string{"u1/timer:r:" + fmt.Sprint(t0)}, 0},
		{"idle partition: processing time moves the watermark", "1m",
			`  - {id: r, campaign: c, kind: absence, events: [add_to_cart], absent: [order], within: 30m, coupon: {value: 5, currency: USD, expires: 1h}}`,
			// idle declared at 5s; lateness 1m + 30m later the watermark is at the deadline, 1ms more passes it
			[]in{ue("add_to_cart", 0), idleAt(ChannelUserEvents, 5000), {tick: 31*minute + 5000}, {tick: 31*minute + 5001}},
			[]string{"u1/timer:r:" + fmt.Sprint(t0)}, 0},
		{"a quiet channel not declared idle holds the watermark however long", "1m",
			`  - {id: r, campaign: c, kind: absence, events: [add_to_cart], absent: [order], within: 30m, coupon: {value: 5, currency: USD, expires: 1h}}`,
			// orders stop (a stalled consumer): hours of processing time pass, user events run ahead, and the order at 10m still cancels.
			[]in{order(1, 0), ue("add_to_cart", 1), {tick: 5 * 60 * minute}, {typ: "page_view", user: "u2", at: 60 * minute, ch: ChannelUserEvents},
				{tick: 6 * 60 * minute}, {typ: "order", amount: 1, currency: "USD", at: 10 * minute, ch: ChannelOrders}, {adv: 120 * minute}}, nil, 0},
		{"lateness is per channel: another channel holding the watermark back does not save an event", "1m",
			count3,
			// user events reached 20m; one at 5m is late even though orders (at 0) hold the watermark at -1m.
			[]in{order(1, 0), ue("add_to_cart", 20*minute), ue("add_to_cart", 5*minute), ue("add_to_cart", 20*minute+1), ue("add_to_cart", 20*minute+2)},
			[]string{"u1/e4"}, 1},
		{"an idle channel that comes back behind the watermark is late", "1m",
			`  - {id: r, campaign: c, kind: sum, threshold: 100, coupon: {value: 5, currency: USD, expires: 1h}}`,
			[]in{order(1, 0), ue("page_view", 0), idleAt(ChannelOrders, 1), ue("page_view", 30*minute), order(200, 10*minute), order(200, 29*minute)},
			[]string{"u1/e5"}, 1},

		{"first fires once", "1m",
			`  - {id: r, campaign: c, kind: first, events: [search], coupon: {value: 5, currency: USD, expires: 1h}}`,
			[]in{ue("search", 0), ue("search", 1), {typ: "search", user: "u2", at: 2, ch: ChannelUserEvents}}, []string{"u1/e0", "u2/e2"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := ruleSet(t, tt.lateness, tt.rule)
			out, late := run(t, set, tt.ins)
			var got []string
			for _, is := range out {
				got = append(got, is.User+"/"+is.Trigger)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got coupons %v, want %v", got, tt.want)
			}
			if late != tt.late {
				t.Errorf("got %d late events, want %d", late, tt.late)
			}
		})
	}
}

func TestCampaignWindowAcrossDST(t *testing.T) {
	// 2026-03-08 in New York: clocks jump from 02:00 EST to 03:00 EDT, so
	// 01:30 EST (06:30Z) to 03:30 EDT (07:30Z) is one hour, not two.
	doc := `campaigns:
  - {id: dst, timezone: America/New_York, start: "2026-03-08 01:30", end: "2026-03-08 03:30"}
rules:
  - {id: r, campaign: dst, kind: first, events: [search], coupon: {value: 5, currency: USD, expires: 1h}}
`
	set, err := Parse("dst.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	c := set.Campaigns["dst"]
	if got, want := c.End.Sub(c.Start), time.Hour; got != want {
		t.Errorf("window length: got %s, want %s", got, want)
	}
	tests := []struct {
		at   string
		want bool
	}{
		{"2026-03-08T06:29:59.999Z", false},
		{"2026-03-08T06:30:00Z", true},
		{"2026-03-08T07:15:00Z", true},
		{"2026-03-08T07:29:59.999Z", true},
		{"2026-03-08T07:30:00Z", false},
		{"2026-03-08T08:15:00Z", false}, // inside if the zone were a fixed -05:00
	}
	for _, tt := range tests {
		ts, _ := time.Parse(time.RFC3339Nano, tt.at)
		p := NewPartition(set, 0, 1, 0)
		ev := Event{ID: "e", User: "u", Type: "search", TS: ts.UnixMilli()}
		out, _ := p.Process(&ev, ChannelUserEvents, nil)
		if got := len(out) == 1; got != tt.want {
			t.Errorf("search at %s: got fired=%v, want %v", tt.at, got, tt.want)
		}
	}
}

func TestBudgetSharesAddUp(t *testing.T) {
	set := ruleSet(t, "1m", `  - {id: r, campaign: c, kind: first, events: [search], budget: {coupons: 5}, coupon: {value: 5, currency: USD, expires: 1h}}`)
	total := 0
	for id := range int32(3) {
		p := NewPartition(set, id, 3, 0)
		var out []Issue
		for i := range 10 {
			ev := Event{ID: "e", User: fmt.Sprintf("u%d", i), Type: "search", TS: t0 + int64(i)}
			out, _ = p.Process(&ev, ChannelUserEvents, out)
		}
		if want := int(Share(5, id, 3)); len(out) != want {
			t.Errorf("partition %d: got %d coupons, want its share %d", id, len(out), want)
		}
		total += len(out)
	}
	if total != 5 {
		t.Errorf("got %d coupons over all partitions, want the budget 5", total)
	}
	valueSet := ruleSet(t, "1m", `  - {id: r, campaign: c, kind: first, events: [search], budget: {value: 12}, coupon: {value: 5, currency: USD, expires: 1h}}`)
	p := NewPartition(valueSet, 0, 1, 0)
	var out []Issue
	for i := range 5 {
		ev := Event{ID: "e", User: fmt.Sprintf("u%d", i), Type: "search", TS: t0}
		out, _ = p.Process(&ev, ChannelUserEvents, out)
	}
	if len(out) != 2 || p.Stats.BudgetExhausted != 3 {
		t.Errorf("value budget 12 at 5 each: got %d coupons and %d refusals, want 2 and 3", len(out), p.Stats.BudgetExhausted)
	}
}

func TestCouponIDsAreDeterministic(t *testing.T) {
	a, b := CouponID("c", "r", "u", 0, "e1"), CouponID("c", "r", "u", 0, "e1")
	if a != b || a == CouponID("c", "r", "u", 1, "e1") || a == CouponID("c", "r2", "u", 0, "e1") || a == CouponID("c", "r", "u", 0, "e2") ||
		CouponID("c", "ru", "", 0, "e1") == CouponID("c", "r", "u", 0, "e1") || len(a) != 28 || !strings.HasPrefix(a, "cpn-") {
		t.Errorf("coupon ids: got %s and %s; want equal for equal input and distinct otherwise", a, b)
	}
}
