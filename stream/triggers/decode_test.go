package triggers

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream/triggers/rules"
)

// randomRecord encodes a random valid record of an input kind and, half
// of the time, rewrites one field to a value schemas rejects or writes in
// another form (escapes, other number or time forms).
func randomRecord(rng *rand.Rand, now time.Time) []byte {
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	id := func() string {
		if rng.IntN(10) == 0 {
			return strings.Repeat("x", 128)
		}
		return fmt.Sprintf("id-%d", rng.IntN(1000))
	}
	ts := func() time.Time {
		switch rng.IntN(8) {
		case 0:
			return now.Add(24*time.Hour - time.Second - time.Duration(rng.IntN(1000))*time.Millisecond)
		case 1:
			return time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
		case 2:
			return time.Date(2024, 2, 29, 23, 59, 59, 999e6, time.UTC)
		}
		return now.Add(-time.Duration(rng.Int64N(int64(400 * 24 * time.Hour))))
	}
	var r schemas.Record
	switch rng.IntN(3) {
	case 0:
		typ := schemas.EventType(pick("page_view", "search", "add_to_cart", "remove_from_cart", "checkout_started", "coupon_redeemed"))
		sku := pick("", "sku-1", "el-9")
		if typ == schemas.EventAddToCart || typ == schemas.EventRemoveFromCart {
			sku = "el-1"
		}
		r = &schemas.UserEvent{EventID: id(), UserID: id(), SessionID: id(), Type: typ, SKU: sku,
			CampaignID: pick("", "black-friday"), TS: ts()}
	case 1:
		items := make([]schemas.Item, 1+rng.IntN(3))
		var sum int64
		for i := range items {
			items[i] = schemas.Item{SKU: pick("sku-1", "el-2", "fa-3"), Qty: int64(1 + rng.IntN(3)), UnitPrice: int64(rng.IntN(5000))}
			sum += items[i].Qty * items[i].UnitPrice
		}
		if sum == 0 {
			items[0].UnitPrice, sum = 7, 7*items[0].Qty
		}
		r = &schemas.Order{EventID: id(), OrderID: id(), UserID: id(), Items: items, Amount: sum,
			Currency: pick("USD", "KRW"), CampaignID: pick("", "lunar-new-year"),
			Priority: schemas.Priority(pick("normal", "vip", "urgent")), CouponID: pick("", "cpn-1"), CreatedAt: ts()}
	default:
		r = &schemas.OrderStatus{EventID: id(), OrderID: id(), UserID: id(),
			Status:   schemas.OrderStatusValue(pick("created", "paid", "cancelled", "shipped")),
			Priority: schemas.Priority(pick("", "normal", "vip", "urgent")), TS: ts()}
	}
	b, err := schemas.Encode(r)
	if err != nil {
		panic(err)
	}
	if rng.IntN(2) == 0 {
		return b
	}
	s := string(b)
	edits := []struct{ re, to string }{
		{`"v":1`, `"v":2`}, {`"v":1`, `"v":0`}, {`"v":1`, `"v":01`},
		{`"type":"[a-z_]+"`, `"type":"bogus"`}, {`"type":"[a-z_]+"`, `"type":"add_to_cart"`},
		{`"currency":"[A-Z]+"`, `"currency":"usd"`}, {`"currency":"[A-Z]+"`, `"currency":"XXZ"`},
		{`"(ts|created_at)":"[^"]+"`, `"$1":"1999-12-31T23:59:59.999Z"`},
		{`"(ts|created_at)":"[^"]+"`, `"$1":"2027-02-29T10:00:00.000Z"`},
		{`"(ts|created_at)":"[^"]+"`, `"$1":"` + now.Add(25*time.Hour).UTC().Format("2006-01-02T15:04:05.000Z") + `"`},
		{`"(ts|created_at)":"[^"]+"`, `"$1":"2026-03-01T10:00:00Z"`},
		{`"(ts|created_at)":"[^"]+"`, `"$1":"2026-03-01T10:00:00.000+01:00"`},
		{`"qty":[0-9]+`, `"qty":0`}, {`"unit_price":[0-9]+`, `"unit_price":-1`},
		{`"amount":[0-9]+`, `"amount":99999999`}, {`"amount":[0-9]+`, `"amount":0`},
		{`"user_id":"[^"]+"`, `"user_id":"` + strings.Repeat("y", 129) + `"`},
		{`"user_id":"[^"]+"`, `"user_id":"é-ü"`}, {`"user_id":"[^"]+"`, `"user_id":"\u0041b"`},
		{`"user_id":"[^"]+"`, `"user_id":""`}, {`"event_id":"[^"]+"`, `"event_id":null`},
		{`"priority":"[a-z]+"`, `"priority":"low"`}, {`"status":"[a-z]+"`, `"status":"lost"`},
		{`,"sku":"[^"]+"`, ``}, {`,"campaign_id":"[^"]+"`, `,"campaign_id":""`},
		{`\}$`, `,"extra":1}`}, {`"items":\[`, `"items":[{"sku":"z","qty":1,"unit_price":0},`},
	}
	e := edits[rng.IntN(len(edits))]
	return []byte(regexp.MustCompile(e.re).ReplaceAllString(s, e.to))
}

// mutate changes one byte, drops one, or inserts a space.
func mutate(rng *rand.Rand, b []byte) []byte {
	b = append([]byte(nil), b...)
	i := rng.IntN(len(b))
	switch rng.IntN(3) {
	case 0:
		b[i] = "0123456789\"\\,:{}[]aZ -."[rng.IntN(22)]
	case 1:
		b = append(b[:i], b[i+1:]...)
	default:
		b = append(b[:i], append([]byte{' '}, b[i:]...)...)
	}
	return b
}

// checkDecodeAgrees fails t unless the decoder and schemas.Decode +
// rules.FromRecord give the same outcome for v: both refuse it, or both
// accept it with the same event.
func checkDecodeAgrees(t *testing.T, d *eventDecoder, v []byte) (valid bool) {
	t.Helper()
	var got rules.Event
	// The same clock as schemas.Decode's just after (a mutated time may
	// land anywhere near the 24h limit; the two readings are microseconds
	// apart).
	d.setNow(time.Now().UnixMilli())
	gok, gerr := d.decode(v, &got)
	dec, err := schemas.Decode(v)
	if (gerr == nil) != (err == nil) || gerr != nil && gerr.Error() != err.Error() {
		t.Fatalf("record %s: decoder says %v, schemas.Decode %v", v, gerr, err)
	}
	if err != nil {
		return false
	}
	want, wok := rules.FromRecord(dec)
	if gok != wok {
		t.Fatalf("record %s: decoder says event=%v, schemas %v", v, gok, wok)
	}
	if len(want.Items) == 0 {
		want.Items = nil
	}
	if len(got.Items) == 0 {
		got.Items = nil
	} else {
		got.Items = append([]schemas.Item(nil), got.Items...)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("record %s:\n got %+v\nwant %+v", v, got, want)
	}
	return true
}

// TestDecodeAgreesWithSchemas checks the decoder against schemas.Decode +
// rules.FromRecord on valid, broken and mutated records, and that
// canonical records (as every surge producer writes them) decode without
// allocating.
func TestDecodeAgreesWithSchemas(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	now := time.Now()
	d := &eventDecoder{}
	d.setNow(now.UnixMilli())
	valid, checked := 0, 0
	for range 20_000 {
		v := randomRecord(rng, now)
		for k := range 4 {
			if k > 0 {
				v = mutate(rng, v)
			}
			checked++
			if checkDecodeAgrees(t, d, v) {
				valid++
			}
		}
	}
	t.Logf("%d records, %d valid", checked, valid)
	for _, r := range []schemas.Record{
		&schemas.UserEvent{EventID: "e1", UserID: "u1", SessionID: "s", Type: schemas.EventAddToCart, SKU: "k", CampaignID: "c", TS: now},
		&schemas.Order{EventID: "e2", OrderID: "o", UserID: "u1", Items: []schemas.Item{{SKU: "a", Qty: 2, UnitPrice: 5}, {SKU: "b", Qty: 1, UnitPrice: 0}},
			Amount: 10, Currency: "USD", Priority: schemas.PriorityVIP, CreatedAt: now},
		&schemas.OrderStatus{EventID: "e3", OrderID: "o", UserID: "u1", Status: schemas.StatusPaid, TS: now},
	} {
		v, err := schemas.Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		var ev rules.Event
		if n := testing.AllocsPerRun(50, func() {
			if ok, err := d.decode(v, &ev); !ok || err != nil {
				t.Fatalf("canonical record %s: %v, %v", v, ok, err)
			}
		}); n != 0 {
			t.Errorf("canonical record %s: got %.1f allocations per decode, want 0", v, n)
		}
	}
}

func FuzzDecode(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 1))
	now := time.Now()
	for range 20 {
		f.Add(randomRecord(rng, now))
	}
	d := &eventDecoder{}
	f.Fuzz(func(t *testing.T, v []byte) {
		checkDecodeAgrees(t, d, v)
	})
}

// BenchmarkDecodeEvent decodes the triggers' inputs as producers write
// them: a user event, an order with three items and a status change.
func BenchmarkDecodeEvent(b *testing.B) {
	now := time.Now()
	records := map[string]schemas.Record{
		"user_event": &schemas.UserEvent{EventID: schemas.NewEventID(), UserID: "u-123456", SessionID: "s-1",
			Type: schemas.EventAddToCart, SKU: "el-12", CampaignID: "black-friday", TS: now},
		"order": &schemas.Order{EventID: schemas.NewEventID(), OrderID: "o-778899", UserID: "u-123456",
			Items: []schemas.Item{{SKU: "el-12", Qty: 1, UnitPrice: 19900}, {SKU: "ho-3", Qty: 2, UnitPrice: 2500},
				{SKU: "bk-77", Qty: 1, UnitPrice: 1299}},
			Amount: 26199, Currency: "EUR", CampaignID: "black-friday", Priority: schemas.PriorityNormal, CreatedAt: now},
		"order_status": &schemas.OrderStatus{EventID: schemas.NewEventID(), OrderID: "o-778899", UserID: "u-123456",
			Status: schemas.StatusPaid, Priority: schemas.PriorityVIP, TS: now},
	}
	for _, name := range []string{"user_event", "order", "order_status"} {
		v, err := schemas.Encode(records[name])
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			d := &eventDecoder{}
			d.setNow(now.UnixMilli())
			b.ReportAllocs()
			for b.Loop() {
				var ev rules.Event
				if ok, err := d.decode(v, &ev); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}
