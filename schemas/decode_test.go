package schemas

import (
	"bytes"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// rec is a record under construction: field name to raw JSON value.
type rec map[string]string

// with returns a copy of r with the given field/raw-value pairs set; an
// empty value deletes the field.
func (r rec) with(kv ...string) rec {
	out := make(rec, len(r)+len(kv)/2)
	for k, v := range r {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(out, kv[i])
		} else {
			out[kv[i]] = kv[i+1]
		}
	}
	return out
}

func (r rec) json() []byte {
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + k + `":` + r[k])
	}
	b.WriteByte('}')
	return b.Bytes()
}

var (
	orderRec = rec{
		"kind": `"order"`, "v": `1`, "event_id": `"e-1"`, "order_id": `"o-1"`, "user_id": `"u-1"`,
		"items":    `[{"sku":"a","qty":2,"unit_price":150},{"sku":"b","qty":1,"unit_price":0}]`,
		"amount":   `300`,
		"currency": `"EUR"`, "created_at": `"2024-11-29T08:00:00Z"`,
	}
	statusRec = rec{
		"kind": `"order_status"`, "v": `1`, "event_id": `"e-2"`, "order_id": `"o-1"`, "user_id": `"u-1"`,
		"status": `"paid"`, "ts": `"2024-11-29T08:01:00Z"`,
	}
	eventRec = rec{
		"kind": `"user_event"`, "v": `1`, "event_id": `"e-3"`, "user_id": `"u-1"`, "session_id": `"s-1"`,
		"type": `"page_view"`, "ts": `"2024-11-29T07:59:00Z"`,
	}
	couponRec = rec{
		"kind": `"coupon"`, "v": `1`, "event_id": `"e-4"`, "coupon_id": `"c-1"`, "user_id": `"u-1"`,
		"campaign_id": `"bf"`, "rule_id": `"r-1"`, "value": `500`, "currency": `"EUR"`,
		"issued_at": `"2024-11-29T08:00:00Z"`, "expires_at": `"2024-12-01T00:00:00Z"`,
		"trigger_event_id": `"e-3"`,
	}
)

func jsonTime(t time.Time) string { return `"` + t.Format(time.RFC3339Nano) + `"` }

// TestDecodeRules runs every rule through Decode; want is the exact error
// text, or empty for a valid record.
func TestDecodeRules(t *testing.T) {
	soon := jsonTime(time.Now().Add(23 * time.Hour))
	late := jsonTime(time.Now().Add(25 * time.Hour))
	manyItems := "[" + strings.Repeat(`{"sku":"a","qty":1,"unit_price":1},`, MaxItems) + `{"sku":"a","qty":1,"unit_price":1}]`
	maxItems := "[" + strings.Repeat(`{"sku":"a","qty":1,"unit_price":1},`, MaxItems-1) + `{"sku":"a","qty":1,"unit_price":1}]`
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		// the record as a whole
		{"empty input", nil, "invalid record: empty record"},
		{"null", []byte(`null`), "invalid record: must be a JSON object, got null"},
		{"array", []byte(`[]`), "invalid record: must be a JSON object, got an array"},
		{"number", []byte(` 42 `), "invalid record: must be a JSON object, got a number"},
		{"boolean", []byte(`true`), "invalid record: must be a JSON object, got a boolean"},
		{"garbage", []byte(`<xml/>`), "invalid record: malformed JSON: want an object starting with '{'"},
		{"truncated", orderRec.json()[:40], "invalid record: truncated JSON: unexpected end of input"},
		{"truncated string", []byte(`{"kind":"ord`), "invalid record: truncated JSON: unexpected end of input"},
		{"invalid utf-8", append([]byte(`{"kind":"order","x":"`), 0xc3, 0x28, '"', '}'), "invalid record: invalid UTF-8 at byte 21"},
		{"trailing garbage", append(eventRec.json(), " }"...), "invalid record: unexpected data after the JSON object at byte 127"},
		{"trailing whitespace ok", append(eventRec.json(), " \r\n\t"...), ""},
		{"leading whitespace ok", append([]byte("\n  "), eventRec.json()...), ""},
		{"deeply nested", eventRec.with("x", strings.Repeat("[", 1000)+strings.Repeat("]", 1000)).json(), "invalid record: nested more than 32 levels deep"},
		{"nested within limit", eventRec.with("x", strings.Repeat(`{"a":`, 30)+"1"+strings.Repeat("}", 30)).json(), ""},
		{"brackets in strings do not nest", eventRec.with("x", `"`+strings.Repeat("[{", 100)+`"`).json(), ""},
		{"control character in string", []byte("{\"kind\":\"order\",\"x\":\"a\tb\"}"), "invalid record: malformed JSON near byte 20"},

		// kind and version
		{"missing kind", eventRec.with("kind", "").json(), "invalid record: kind: missing"},
		{"null kind", eventRec.with("kind", "null").json(), "invalid record: kind: missing"},
		{"unknown kind", eventRec.with("kind", `"refund"`).json(), `invalid record: kind: unknown kind "refund"; want one of order, order_status, user_event, coupon`},
		{"kind wrong type", eventRec.with("kind", `["order"]`).json(), "invalid record: kind: must be a string"},
		{"kind is case-sensitive", eventRec.with("kind", `"USER_EVENT"`).json(), `invalid record: kind: unknown kind "USER_EVENT"; want one of order, order_status, user_event, coupon`},
		{"missing v", eventRec.with("v", "").json(), "invalid user_event: v: missing"},
		{"v 7", eventRec.with("v", "7").json(), "invalid user_event: v: unsupported schema version 7; this build reads 1..1"},
		{"v -1", eventRec.with("v", "-1").json(), "invalid user_event: v: unsupported schema version -1; this build reads 1..1"},
		{"v string", eventRec.with("v", `"1"`).json(), "invalid user_event: v: must be an integer"},
		{"v float", eventRec.with("v", `1.0`).json(), "invalid user_event: v: must be an integer"},
		{"missing event_id", eventRec.with("event_id", "").json(), "invalid user_event: event_id: missing"},

		// fields in general
		{"unknown fields ignored", eventRec.with("referrer", `{"url":"x","n":[1,2.5,null,true]}`, "Type", `"nope"`).json(), ""},
		{"keys are case-sensitive", eventRec.with("User_ID", `"u-2"`, "user_id", "").json(), "invalid user_event: user_id: missing"},
		{"null is absent", eventRec.with("user_id", "null").json(), "invalid user_event: user_id: missing"},
		{"empty id", eventRec.with("session_id", `""`).json(), "invalid user_event: session_id: must not be empty"},
		{"id of 128 bytes", eventRec.with("user_id", `"`+strings.Repeat("u", 128)+`"`).json(), ""},
		{"id of 129 bytes", eventRec.with("user_id", `"`+strings.Repeat("u", 129)+`"`).json(), "invalid user_event: user_id: must be at most 128 bytes, got 129"},
		{"unicode id", eventRec.with("user_id", `"ユーザー-42"`, "session_id", `"\u00e9\ud83d\ude00"`).json(), ""},
		{"NUL in id", eventRec.with("user_id", `"u\u0000"`).json(), "invalid user_event: user_id: must not contain control characters"},
		{"C1 control in id", eventRec.with("user_id", `"u\u0085"`).json(), "invalid user_event: user_id: must not contain control characters"},
		{"newline in id", eventRec.with("event_id", `"e\n"`).json(), "invalid user_event: event_id: must not contain control characters"},
		{"id wrong type", eventRec.with("user_id", `42`).json(), "invalid user_event: user_id: must be a string"},

		// orders
		{"order ok", orderRec.json(), ""},
		{"order priority vip", orderRec.with("priority", `"vip"`).json(), ""},
		{"order priority unknown", orderRec.with("priority", `"high"`).json(), `invalid order: priority: unknown priority "high"; want one of normal, vip, urgent`},
		{"order without order_id", orderRec.with("order_id", "").json(), "invalid order: order_id: missing"},
		{"order without user_id", orderRec.with("user_id", "").json(), "invalid order: user_id: missing"},
		{"items missing", orderRec.with("items", "").json(), "invalid order: items: missing"},
		{"items empty", orderRec.with("items", "[]").json(), "invalid order: items: must not be empty"},
		{"items object", orderRec.with("items", `{"sku":"a"}`).json(), "invalid order: items: must be an array"},
		{"1000 items", orderRec.with("items", maxItems, "amount", "1000").json(), ""},
		{"1001 items", orderRec.with("items", manyItems, "amount", "1001").json(), "invalid order: items: must have at most 1000 items, got 1001"},
		{"item null", orderRec.with("items", `[{"sku":"a","qty":2,"unit_price":150},null]`).json(), "invalid order: items[1]: must be an object"},
		{"item zero qty", orderRec.with("items", `[{"sku":"a","qty":0,"unit_price":150}]`).json(), "invalid order: items[0].qty: must be greater than zero"},
		{"item negative qty", orderRec.with("items", `[{"sku":"a","qty":-2,"unit_price":150}]`).json(), "invalid order: items[0].qty: must be greater than zero"},
		{"item negative price", orderRec.with("items", `[{"sku":"a","qty":2,"unit_price":-150}]`, "amount", "1").json(), "invalid order: items[0].unit_price: must not be negative"},
		{"item without price", orderRec.with("items", `[{"sku":"a","qty":2}]`).json(), "invalid order: items[0].unit_price: missing"},
		{"item sku empty", orderRec.with("items", `[{"sku":"","qty":2,"unit_price":150}]`).json(), "invalid order: items[0].sku: must not be empty"},
		{"item sku too long", orderRec.with("items", `[{"sku":"`+strings.Repeat("x", 129)+`","qty":2,"unit_price":150}]`).json(), "invalid order: items[0].sku: must be at most 128 bytes, got 129"},
		{"item qty 1e3", orderRec.with("items", `[{"sku":"a","qty":1e3,"unit_price":150}]`).json(), "invalid order: items[0].qty: must be an integer"},
		{"item qty 1.5", orderRec.with("items", `[{"sku":"a","qty":1.5,"unit_price":150}]`).json(), "invalid order: items[0].qty: must be an integer"},
		{"item qty string", orderRec.with("items", `[{"sku":"a","qty":"2","unit_price":150}]`).json(), "invalid order: items[0].qty: must be an integer"},
		{"amount zero", orderRec.with("amount", "0").json(), "invalid order: amount: must be greater than zero"},
		{"amount negative", orderRec.with("amount", "-300").json(), "invalid order: amount: must not be negative"},
		{"amount mismatch", orderRec.with("amount", "299").json(), "invalid order: amount: 299 does not match the items total 300 (sum of qty*unit_price)"},
		{"amount max int64", orderRec.with("items", `[{"sku":"a","qty":1,"unit_price":9223372036854775807}]`, "amount", "9223372036854775807").json(), ""},
		{"amount beyond int64", orderRec.with("amount", "9223372036854775808").json(), "invalid order: amount: overflows int64"},
		{"amount far beyond int64", orderRec.with("amount", "123456789012345678901234567890").json(), "invalid order: amount: overflows int64"},
		{"price below int64", orderRec.with("items", `[{"sku":"a","qty":1,"unit_price":-9223372036854775809}]`).json(), "invalid order: items[0].unit_price: overflows int64"},
		{"line overflow", orderRec.with("items", `[{"sku":"a","qty":4,"unit_price":4611686018427387904}]`).json(), "invalid order: items[0]: qty*unit_price overflows int64"},
		{"sum overflow", orderRec.with("items", `[{"sku":"a","qty":1,"unit_price":9223372036854775807},{"sku":"b","qty":1,"unit_price":1}]`).json(), "invalid order: items: sum of qty*unit_price overflows int64"},
		{"currency unknown", orderRec.with("currency", `"XXX"`).json(), `invalid order: currency: "XXX" is not an ISO-4217 currency`},
		{"currency lower case", orderRec.with("currency", `"usd"`).json(), `invalid order: currency: "usd" is not an ISO-4217 currency (codes are upper case: USD)`},
		{"currency withdrawn", orderRec.with("currency", `"HRK"`).json(), `invalid order: currency: "HRK" is not an ISO-4217 currency`},
		{"currency wrong type", orderRec.with("currency", `978`).json(), "invalid order: currency: must be a string"},
		{"created_at missing", orderRec.with("created_at", "").json(), "invalid order: created_at: missing"},
		{"created_at within 24h", orderRec.with("created_at", soon).json(), ""},
		{"created_at beyond 24h", orderRec.with("created_at", late).json(), "invalid order: created_at: must not be more than 24h in the future"},
		{"created_at far future", orderRec.with("created_at", `"9999-12-31T23:59:59Z"`).json(), "invalid order: created_at: must not be more than 24h in the future"},
		{"created_at 2000", orderRec.with("created_at", `"2000-01-01T00:00:00Z"`).json(), ""},
		{"created_at before 2000", orderRec.with("created_at", `"2000-01-01T00:59:59+01:00"`).json(), "invalid order: created_at: must not be before 2000-01-01T00:00:00Z"},
		{"created_at zero time", orderRec.with("created_at", `"0001-01-01T00:00:00Z"`).json(), "invalid order: created_at: must not be before 2000-01-01T00:00:00Z"},
		{"created_at not RFC 3339", orderRec.with("created_at", `"29/11/2024"`).json(), `invalid order: created_at: must be an RFC 3339 timestamp, got "29/11/2024"`},
		{"created_at without zone", orderRec.with("created_at", `"2024-11-29T08:00:00"`).json(), `invalid order: created_at: must be an RFC 3339 timestamp, got "2024-11-29T08:00:00"`},
		{"created_at unix seconds", orderRec.with("created_at", `1732867200`).json(), "invalid order: created_at: must be a string"},

		// order statuses
		{"status ok", statusRec.json(), ""},
		{"status unknown", statusRec.with("status", `"refunded"`).json(), `invalid order_status: status: unknown status "refunded"; want one of created, paid, cancelled, shipped`},
		{"status empty", statusRec.with("status", `""`).json(), "invalid order_status: status: must not be empty"},
		{"status without ts", statusRec.with("ts", "").json(), "invalid order_status: ts: missing"},

		// user events
		{"event ok", eventRec.json(), ""},
		{"event type unknown", eventRec.with("type", `"foo"`).json(), `invalid user_event: type: unknown event type "foo"; want one of page_view, search, add_to_cart, remove_from_cart, checkout_started, coupon_redeemed`},
		{"event add_to_cart needs sku", eventRec.with("type", `"add_to_cart"`).json(), "invalid user_event: sku: required for add_to_cart events"},
		{"event remove_from_cart needs sku", eventRec.with("type", `"remove_from_cart"`, "sku", `""`).json(), "invalid user_event: sku: required for remove_from_cart events"},
		{"event add_to_cart with sku", eventRec.with("type", `"add_to_cart"`, "sku", `"a"`).json(), ""},
		{"event sku wrong type", eventRec.with("sku", `1`).json(), "invalid user_event: sku: must be a string"},
		{"event ts in the future", eventRec.with("ts", late).json(), "invalid user_event: ts: must not be more than 24h in the future"},

		// coupons
		{"coupon ok", couponRec.json(), ""},
		{"coupon value zero", couponRec.with("value", "0").json(), "invalid coupon: value: must be greater than zero"},
		{"coupon value negative", couponRec.with("value", "-1").json(), "invalid coupon: value: must not be negative"},
		{"coupon currency", couponRec.with("currency", `"EURO"`).json(), `invalid coupon: currency: "EURO" is not an ISO-4217 currency`},
		{"coupon expires before issue", couponRec.with("expires_at", `"2024-11-29T07:00:00Z"`).json(), "invalid coupon: expires_at: must be after issued_at"},
		{"coupon expires far ahead", couponRec.with("expires_at", `"2099-01-01T00:00:00Z"`).json(), ""},
		{"coupon without trigger", couponRec.with("trigger_event_id", "").json(), "invalid coupon: trigger_event_id: missing"},
		{"coupon without rule and campaign", couponRec.with("rule_id", "", "campaign_id", "").json(), "invalid coupon: campaign_id: missing; rule_id: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Decode(tt.in)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Decode(%.200s): got error %v, want none", tt.in, err)
				}
				if err := Validate(r); err != nil {
					t.Errorf("Validate(Decode(...)): got error %v, want none", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Decode(%.200s): got %+v, want error %q", tt.in, r, tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Decode(%.200s):\ngot  %s\nwant %s", tt.in, got, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("got error %v that does not match ErrInvalid", err)
			}
			if r != nil {
				t.Errorf("got record %+v with the error, want nil", r)
			}
		})
	}
}

func TestDecodeValues(t *testing.T) {
	data := orderRec.with(
		"order_id", `"first"`,
		"created_at", `"2024-11-29T09:30:00.123456789+01:30"`,
		"campaign_id", `null`, "coupon_id", `"c\u00e9"`,
	).json()
	data = bytes.Replace(data, []byte(`"order_id":"first"`), []byte(`"order_id":"last"`), 1)
	o, err := DecodeOrder(data)
	if err != nil {
		t.Fatalf("DecodeOrder: got error %v, want none", err)
	}
	want := &Order{
		EventID: "e-1", Version: 1, OrderID: "last", UserID: "u-1",
		Items:    []Item{{SKU: "a", Qty: 2, UnitPrice: 150}, {SKU: "b", Qty: 1, UnitPrice: 0}},
		Amount:   300,
		Currency: "EUR", Priority: PriorityNormal, CouponID: "cé",
		CreatedAt: time.Date(2024, 11, 29, 8, 0, 0, 123_000_000, time.UTC),
	}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("DecodeOrder:\ngot  %+v\nwant %+v", o, want)
	}
	if loc := o.CreatedAt.Location(); loc != time.UTC {
		t.Errorf("created_at location: got %v, want UTC", loc)
	}

	// The decoded strings must not alias the caller's buffer.
	ev := eventRec.json()
	e, err := DecodeUserEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ev {
		ev[i] = 'X'
	}
	if e.UserID != "u-1" || e.SessionID != "s-1" || e.EventID != "e-3" || e.Type != EventPageView {
		t.Errorf("after overwriting the input: got %+v, want the decoded values unchanged", e)
	}
}

func TestDecodeByKind(t *testing.T) {
	noKind := eventRec.with("kind", "").json()
	if e, err := DecodeUserEvent(noKind); err != nil || e.UserID != "u-1" {
		t.Errorf("DecodeUserEvent without kind: got %+v, %v; want the event", e, err)
	}
	tests := []struct {
		name string
		fn   func([]byte) (Record, error)
		in   []byte
		want string
	}{
		{"order", func(b []byte) (Record, error) { return DecodeOrder(b) }, couponRec.json(), `invalid order: kind: got "coupon", want "order"`},
		{"order_status", func(b []byte) (Record, error) { return DecodeOrderStatus(b) }, orderRec.json(), `invalid order_status: kind: got "order", want "order_status"`},
		{"user_event", func(b []byte) (Record, error) { return DecodeUserEvent(b) }, eventRec.with("kind", `"click"`).json(), `invalid user_event: kind: got "click", want "user_event"`},
		{"coupon", func(b []byte) (Record, error) { return DecodeCoupon(b) }, statusRec.json(), `invalid coupon: kind: got "order_status", want "coupon"`},
		{"coupon from array", func(b []byte) (Record, error) { return DecodeCoupon(b) }, []byte(`[]`), `invalid coupon: must be a JSON object, got an array`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.fn(tt.in)
			if err == nil || err.Error() != tt.want {
				t.Errorf("got error %v, want %s", err, tt.want)
			}
		})
	}
	for _, in := range [][]byte{orderRec.json(), statusRec.json(), eventRec.json(), couponRec.json()} {
		r, err := Decode(in)
		if err != nil {
			t.Fatalf("Decode(%s): %v", in, err)
		}
		var kind string
		switch r.(type) {
		case *Order:
			kind = "order"
		case *OrderStatus:
			kind = "order_status"
		case *UserEvent:
			kind = "user_event"
		case *Coupon:
			kind = "coupon"
		}
		if kind != string(r.Kind()) || !bytes.Contains(in, []byte(`"kind":"`+kind+`"`)) {
			t.Errorf("Decode(%s): got %T with kind %q", in, r, r.Kind())
		}
	}
}

func TestDecodeSize(t *testing.T) {
	pad := func(n int) []byte {
		b := eventRec.with("pad", `""`).json()
		return bytes.Replace(b, []byte(`"pad":""`), []byte(`"pad":"`+strings.Repeat("p", n-len(b))+`"`), 1)
	}
	if b := pad(MaxRecordBytes); len(b) != MaxRecordBytes {
		t.Fatalf("pad: got %d bytes, want %d", len(b), MaxRecordBytes)
	} else if _, err := Decode(b); err != nil {
		t.Errorf("Decode(%d bytes): got error %v, want none", len(b), err)
	}
	for _, n := range []int{MaxRecordBytes + 1, 10 << 20} {
		_, err := Decode(pad(n))
		if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrInvalid) {
			t.Errorf("Decode(%d bytes): got error %v, want ErrTooLarge and ErrInvalid", n, err)
		}
	}
	// Size is checked before parsing: 10 MB of garbage is still "too large".
	_, err := Decode(bytes.Repeat([]byte{0xff}, 10<<20))
	if want := "record too large: 10485760 bytes, limit 262144"; err == nil || err.Error() != want {
		t.Errorf("Decode(10 MB garbage): got %v, want %s", err, want)
	}
	// Deep nesting that fills the whole budget is refused quickly, not recursed.
	deep := append([]byte(`{"x":`), bytes.Repeat([]byte{'['}, MaxRecordBytes-10)...)
	if _, err := Decode(deep); err == nil || !strings.Contains(err.Error(), "nested more than") {
		t.Errorf("Decode(deep): got %v, want a nesting error", err)
	}
}

func TestDecodeConcurrent(t *testing.T) {
	inputs := [][]byte{orderRec.json(), statusRec.json(), eventRec.json(), couponRec.json(), orderRec.with("amount", "1").json()}
	done := make(chan error)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 2000; i++ {
				in := inputs[(i+g)%len(inputs)]
				r, err := Decode(in)
				if (err == nil) == bytes.Contains(in, []byte(`"amount":1,`)) {
					done <- errors.New("unexpected result for " + string(in))
					return
				}
				if o, ok := r.(*Order); ok && (o.UserID != "u-1" || len(o.Items) != 2) {
					done <- errors.New("corrupted order")
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestDecodePoolReuse makes sure nothing from one record leaks into the next
// through the decoder's reused buffers.
func TestDecodePoolReuse(t *testing.T) {
	full := orderRec.with("campaign_id", `"bf"`, "items", `[{"sku":"a","qty":1,"unit_price":100},{"sku":"b","qty":2,"unit_price":100}]`).json()
	sparse := orderRec.with("items", `[{"qty":1,"unit_price":100},{"qty":2}]`, "user_id", "").json()
	for i := 0; i < 3; i++ {
		if _, err := Decode(full); err != nil {
			t.Fatalf("Decode(full): %v", err)
		}
		_, err := Decode(sparse)
		want := "invalid order: user_id: missing; items[0].sku: missing; items[1].sku: missing; items[1].unit_price: missing"
		if err == nil || err.Error() != want {
			t.Fatalf("Decode(sparse) after Decode(full):\ngot  %v\nwant %s", err, want)
		}
		o, err := DecodeOrder(orderRec.json())
		if err != nil || o.CampaignID != "" {
			t.Fatalf("DecodeOrder(no campaign) after Decode(full): got %+v, %v; want no campaign", o, err)
		}
	}
}

// TestClockSkew checks the 24h bound against a fixed clock.
func TestClockSkew(t *testing.T) {
	now := time.Date(2024, 11, 29, 0, 0, 0, 0, time.UTC)
	defer func(f func() time.Time) { nowFunc = f }(nowFunc)
	nowFunc = func() time.Time { return now }
	tests := []struct {
		ts   string
		want string
	}{
		{`"2024-11-30T00:00:00Z"`, ""},
		{`"2024-11-30T01:00:00+01:00"`, ""},
		{`"2024-11-30T00:00:00.001Z"`, "invalid user_event: ts: must not be more than 24h in the future"},
		{`"2024-11-29T23:00:00.001-01:00"`, "invalid user_event: ts: must not be more than 24h in the future"},
	}
	for _, tt := range tests {
		_, err := Decode(eventRec.with("ts", tt.ts).json())
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("ts %s at %s: got %q, want %q", tt.ts, now, got, tt.want)
		}
	}
}
