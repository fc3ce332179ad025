package schemas

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2024, 11, 29, 8, 0, 0, 123_000_000, time.UTC)

func goOrder() *Order {
	return &Order{
		EventID: "e-1", OrderID: "o-1", UserID: "u-1",
		Items:    []Item{{SKU: "a", Qty: 2, UnitPrice: 150}, {SKU: "b", Qty: 1, UnitPrice: 0}},
		Amount:   300,
		Currency: "EUR", CreatedAt: t0,
	}
}

func goStatus() *OrderStatus {
	return &OrderStatus{EventID: "e-2", OrderID: "o-1", UserID: "u-1", Status: StatusPaid, TS: t0}
}

func goEvent() *UserEvent {
	return &UserEvent{EventID: "e-3", UserID: "u-1", SessionID: "s-1", Type: EventAddToCart, SKU: "a", TS: t0}
}

func goCoupon() *Coupon {
	return &Coupon{
		EventID: "e-4", CouponID: "c-1", UserID: "u-1", CampaignID: "bf", RuleID: "r-1",
		Value: 500, Currency: "EUR", IssuedAt: t0, ExpiresAt: t0.Add(72 * time.Hour), TriggerEventID: "e-3",
	}
}

// TestValidate checks values built in Go; want is the exact error text.
func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		r    Record
		want string
	}{
		{"order", goOrder(), ""},
		{"order v1", func() Record { o := goOrder(); o.Version = 1; return o }(), ""},
		{"order v2", func() Record { o := goOrder(); o.Version = 2; return o }(), "invalid order: v: unsupported schema version 2; this build reads 1..1"},
		{"order v-1", func() Record { o := goOrder(); o.Version = -1; return o }(), "invalid order: v: unsupported schema version -1; this build reads 1..1"},
		{"order zero value", &Order{}, "invalid order: event_id: missing; order_id: missing; user_id: missing; items: must not be empty; amount: must be greater than zero; currency: missing; created_at: missing"},
		{"order example", func() Record { o := goOrder(); o.Amount = -1; o.Currency = "XXX"; return o }(), `invalid order: amount: must not be negative; currency: "XXX" is not an ISO-4217 currency`},
		{"order mismatch", func() Record { o := goOrder(); o.Amount = 301; return o }(), "invalid order: amount: 301 does not match the items total 300 (sum of qty*unit_price)"},
		{"order bad item", func() Record {
			o := goOrder()
			o.Items = append(o.Items, Item{SKU: "", Qty: 0, UnitPrice: -5})
			return o
		}(), "invalid order: items[2].sku: missing; items[2].qty: must be greater than zero; items[2].unit_price: must not be negative"},
		{"order invalid utf-8", func() Record { o := goOrder(); o.UserID = "u\xff"; return o }(), "invalid order: user_id: must be valid UTF-8"},
		{"order priority", func() Record { o := goOrder(); o.Priority = "low"; return o }(), `invalid order: priority: unknown priority "low"; want one of normal, vip, urgent`},
		{"order future", func() Record { o := goOrder(); o.CreatedAt = time.Now().Add(48 * time.Hour); return o }(), "invalid order: created_at: must not be more than 24h in the future"},
		{"order local time", func() Record {
			o := goOrder()
			o.CreatedAt = t0.In(time.FixedZone("X", -7*3600))
			return o
		}(), ""},
		{"status", goStatus(), ""},
		{"status empty", func() Record { s := goStatus(); s.Status = ""; return s }(), "invalid order_status: status: missing"},
		{"status zero ts", func() Record { s := goStatus(); s.TS = time.Time{}; return s }(), "invalid order_status: ts: missing"},
		{"event", goEvent(), ""},
		{"event no sku", func() Record { e := goEvent(); e.SKU = ""; return e }(), "invalid user_event: sku: required for add_to_cart events"},
		{"event type", func() Record { e := goEvent(); e.Type = "click"; return e }(), `invalid user_event: type: unknown event type "click"; want one of page_view, search, add_to_cart, remove_from_cart, checkout_started, coupon_redeemed`},
		{"event long id quoted", func() Record { e := goEvent(); e.Type = EventType(strings.Repeat("z", 100)); return e }(), `invalid user_event: type: unknown event type "` + strings.Repeat("z", 64) + `"...; want one of page_view, search, add_to_cart, remove_from_cart, checkout_started, coupon_redeemed`},
		{"coupon", goCoupon(), ""},
		{"coupon expiry", func() Record { c := goCoupon(); c.ExpiresAt = c.IssuedAt; return c }(), "invalid coupon: expires_at: must be after issued_at"},
		{"coupon year 10000", func() Record { c := goCoupon(); c.ExpiresAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC); return c }(), "invalid coupon: expires_at: must be before year 10000"},
		{"coupon zero", &Coupon{}, "invalid coupon: event_id: missing; coupon_id: missing; user_id: missing; campaign_id: missing; rule_id: missing; value: must be greater than zero; currency: missing; issued_at: missing; expires_at: missing; trigger_event_id: missing"},
		{"nil", nil, "invalid record: nil record"},
		{"nil order", (*Order)(nil), "invalid order: nil record"},
		{"foreign type", foreign{}, "invalid record: unsupported record type schemas.foreign"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.r)
			got := ""
			if err != nil {
				got = err.Error()
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("got error %v that does not match ErrInvalid", err)
				}
			}
			if got != tt.want {
				t.Errorf("Validate:\ngot  %s\nwant %s", got, tt.want)
			}
			// Encode applies the same rules.
			if _, err := Encode(tt.r); (err == nil) != (tt.want == "") {
				t.Errorf("Encode: got error %v, want error %v", err, tt.want != "")
			}
		})
	}
}

type foreign struct{}

func (foreign) Kind() Kind      { return "foreign" }
func (foreign) ID() string      { return "" }
func (foreign) Key() string     { return "" }
func (foreign) Time() time.Time { return time.Time{} }

func TestValidateErrorCap(t *testing.T) {
	o := goOrder()
	o.Items = make([]Item, 100)
	for i := range o.Items {
		o.Items[i] = Item{SKU: "a", Qty: 0, UnitPrice: 1}
	}
	err := Validate(o)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want a *ValidationError", err)
	}
	if got, want := len(ve.Errors), maxReported+1; got != want {
		t.Errorf("got %d problems, want %d", got, want)
	}
	if got, want := ve.Errors[len(ve.Errors)-1].Problem, "and 68 more problems"; got != want {
		t.Errorf("last problem: got %q, want %q", got, want)
	}
}

func TestErrors(t *testing.T) {
	fe := FieldError{Field: "items[2].qty", Problem: "must be greater than zero"}
	if got, want := fe.Error(), "items[2].qty: must be greater than zero"; got != want {
		t.Errorf("FieldError.Error: got %q, want %q", got, want)
	}
	if got, want := (FieldError{Problem: "empty record"}).Error(), "empty record"; got != want {
		t.Errorf("FieldError.Error without field: got %q, want %q", got, want)
	}
	ve := &ValidationError{Kind: KindOrder, Errors: []FieldError{
		{"amount", "must not be negative"}, {"currency", `"XXX" is not an ISO-4217 currency`},
	}}
	if got, want := ve.Error(), `invalid order: amount: must not be negative; currency: "XXX" is not an ISO-4217 currency`; got != want {
		t.Errorf("ValidationError.Error: got %q, want %q", got, want)
	}
	if !errors.Is(ve, ErrInvalid) || errors.Is(ve, ErrTooLarge) {
		t.Errorf("ValidationError: got Is(ErrInvalid)=%v Is(ErrTooLarge)=%v, want true, false", errors.Is(ve, ErrInvalid), errors.Is(ve, ErrTooLarge))
	}
	if errors.Unwrap(ve) != ErrInvalid {
		t.Errorf("ValidationError.Unwrap: got %v, want ErrInvalid", errors.Unwrap(ve))
	}
	_, err := Decode(make([]byte, MaxRecordBytes+1))
	var ve2 *ValidationError
	if errors.As(err, &ve2) || !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrInvalid) {
		t.Errorf("too large: got %v (ValidationError %v), want ErrTooLarge and ErrInvalid only", err, ve2)
	}
}

func TestEncode(t *testing.T) {
	tests := []struct {
		name string
		r    Record
		want string
	}{
		{"order defaults", goOrder(), `{"kind":"order","v":1,"event_id":"e-1","order_id":"o-1","user_id":"u-1","items":[{"sku":"a","qty":2,"unit_price":150},{"sku":"b","qty":1,"unit_price":0}],"amount":300,"currency":"EUR","priority":"normal","created_at":"2024-11-29T08:00:00.123Z"}`},
		{"order all fields", func() Record {
			o := goOrder()
			o.Version, o.CampaignID, o.CouponID, o.Priority = 1, "bf", "c-1", PriorityUrgent
			o.CreatedAt = time.Date(2024, 11, 29, 3, 0, 0, 999_999_999, time.FixedZone("EST", -5*3600))
			return o
		}(), `{"kind":"order","v":1,"event_id":"e-1","order_id":"o-1","user_id":"u-1","items":[{"sku":"a","qty":2,"unit_price":150},{"sku":"b","qty":1,"unit_price":0}],"amount":300,"currency":"EUR","campaign_id":"bf","priority":"urgent","coupon_id":"c-1","created_at":"2024-11-29T08:00:00.999Z"}`},
		{"status", goStatus(), `{"kind":"order_status","v":1,"event_id":"e-2","order_id":"o-1","user_id":"u-1","status":"paid","ts":"2024-11-29T08:00:00.123Z"}`},
		{"event", goEvent(), `{"kind":"user_event","v":1,"event_id":"e-3","user_id":"u-1","session_id":"s-1","type":"add_to_cart","sku":"a","ts":"2024-11-29T08:00:00.123Z"}`},
		{"event escapes", func() Record {
			e := goEvent()
			e.Type, e.SKU, e.UserID, e.CampaignID = EventPageView, "", `a"b\c</d>`, "双十一 é"
			return e
		}(), `{"kind":"user_event","v":1,"event_id":"e-3","user_id":"a\"b\\c</d>","session_id":"s-1","type":"page_view","campaign_id":"双十一 é","ts":"2024-11-29T08:00:00.123Z"}`},
		{"coupon", goCoupon(), `{"kind":"coupon","v":1,"event_id":"e-4","coupon_id":"c-1","user_id":"u-1","campaign_id":"bf","rule_id":"r-1","value":500,"currency":"EUR","issued_at":"2024-11-29T08:00:00.123Z","expires_at":"2024-12-02T08:00:00.123Z","trigger_event_id":"e-3"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Encode(tt.r)
			if err != nil {
				t.Fatalf("Encode: got error %v, want none", err)
			}
			if string(got) != tt.want {
				t.Errorf("Encode:\ngot  %s\nwant %s", got, tt.want)
			}
			app, err := AppendJSON([]byte("prefix "), tt.r)
			if err != nil || string(app) != "prefix "+tt.want {
				t.Errorf("AppendJSON: got %s, %v; want the encoding after the prefix", app, err)
			}
		})
	}

	dst := []byte("keep")
	out, err := AppendJSON(dst, &Order{})
	if err == nil || string(out) != "keep" {
		t.Errorf("AppendJSON(invalid): got %q, %v; want dst unchanged and an error", out, err)
	}
}

// TestRoundTrip encodes values built in Go and decodes them back.
func TestRoundTrip(t *testing.T) {
	o := goOrder()
	o.CampaignID, o.CouponID, o.Priority = "bf", "c-1", PriorityVIP
	uni := goEvent()
	uni.UserID, uni.SKU, uni.CampaignID = "用户-😀", "sku\u2028x", "é"
	for _, r := range []Record{goOrder(), o, goStatus(), goEvent(), uni, goCoupon()} {
		b, err := Encode(r)
		if err != nil {
			t.Fatalf("Encode(%+v): %v", r, err)
		}
		back, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(%s): %v", b, err)
		}
		want := normalized(r)
		if !reflect.DeepEqual(back, want) {
			t.Errorf("round trip of %T:\ngot  %+v\nwant %+v", r, back, want)
		}
	}
}

// normalized returns r as Decode would return it: version and priority
// filled in, times in UTC to the millisecond.
func normalized(r Record) Record {
	ms := func(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }
	v := func(n int) int {
		if n == 0 {
			return CurrentVersion
		}
		return n
	}
	switch x := r.(type) {
	case *Order:
		c := *x
		c.Version, c.CreatedAt = v(c.Version), ms(c.CreatedAt)
		if c.Priority == "" {
			c.Priority = PriorityNormal
		}
		return &c
	case *OrderStatus:
		c := *x
		c.Version, c.TS = v(c.Version), ms(c.TS)
		return &c
	case *UserEvent:
		c := *x
		c.Version, c.TS = v(c.Version), ms(c.TS)
		return &c
	case *Coupon:
		c := *x
		c.Version, c.IssuedAt, c.ExpiresAt = v(c.Version), ms(c.IssuedAt), ms(c.ExpiresAt)
		return &c
	}
	return r
}

func TestEncodeTooLarge(t *testing.T) {
	o := goOrder()
	o.Items = make([]Item, MaxItems)
	sku := strings.Repeat("\u2028", MaxIDBytes/3) // 3 bytes in Go, 6 on the wire
	for i := range o.Items {
		o.Items[i] = Item{SKU: sku, Qty: 1, UnitPrice: 1}
	}
	o.Amount = MaxItems
	_, err := Encode(o)
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("Encode(huge order): got %v, want ErrTooLarge", err)
	}
}
