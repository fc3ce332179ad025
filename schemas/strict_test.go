package schemas

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// Duplicate keys and lone surrogate escapes are refused naming the field,
// by Decode (the gateway and every consumer) and by the kind-specific
// decoders; valid surrogate pairs and escaped keys still decode.
func TestDecodeStrict(t *testing.T) {
	dupAmount := bytes.Replace(orderRec.json(), []byte(`"amount":300`), []byte(`"amount":-5,"amount":300`), 1)
	tests := []struct {
		name      string
		in        []byte
		wantField string // "" for a valid record
		wantIn    string
	}{
		{"duplicate amount, first invalid", dupAmount, "amount", "duplicate key"},
		{"duplicate user_id, same value", bytes.Replace(eventRec.json(), []byte(`"user_id":"u-1"`), []byte(`"user_id":"u-1","user_id":"u-1"`), 1), "user_id", "duplicate key"},
		{"duplicate key spelled with an escape", bytes.Replace(eventRec.json(), []byte(`"user_id":"u-1"`), []byte(`"user_id":"u-1","user\u005fid":"u-2"`), 1), "user_id", "duplicate key"},
		{"duplicate key in an item", orderRec.with("items", `[{"sku":"a","qty":2,"unit_price":150},{"sku":"b","qty":1,"qty":1,"unit_price":0}]`).json(), "items[1].qty", "duplicate key"},
		{"duplicate unknown key, nested", eventRec.with("extra", `{"a":1,"b":[{"c":1}],"a":2}`).json(), "extra.a", "duplicate key"},
		{"duplicate among many keys", eventRec.with("extra", manyKeys(40, "k7")).json(), "extra.k7", "duplicate key"},
		{"many distinct keys", eventRec.with("extra", manyKeys(40, "")).json(), "", ""},
		{"lone high surrogate", eventRec.with("user_id", `"u-\ud800"`).json(), "user_id", "lone surrogate"},
		{"lone high surrogate before a non-surrogate", eventRec.with("user_id", `"u-\uD800\u0041"`).json(), "user_id", "lone surrogate"},
		{"lone low surrogate", eventRec.with("session_id", `"\udc00s"`).json(), "session_id", "lone surrogate"},
		{"lone surrogate in an item sku", orderRec.with("items", `[{"sku":"a\udfff","qty":2,"unit_price":150}]`).json(), "items[0].sku", "lone surrogate"},
		{"lone surrogate in an unknown field", eventRec.with("note", `"\ud83d"`).json(), "note", "lone surrogate"},
		{"surrogate pair", eventRec.with("user_id", `"u-\ud83d\ude00"`).json(), "", ""},
		{"escaped backslash before u", eventRec.with("user_id", `"u-\\ud800"`).json(), "", ""},
		{"same key in sibling objects", eventRec.with("extra", `[{"a":1},{"a":2}]`).json(), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Decode(tt.in)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Decode(%s): got error %v, want none", tt.in, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Decode(%s): got %+v, want an error naming %s", tt.in, r, tt.wantField)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got error %T %v, want a *ValidationError matching ErrInvalid", err, err)
			}
			if got := ve.Errors[0]; got.Field != tt.wantField || !strings.Contains(got.Problem, tt.wantIn) {
				t.Errorf("got %q: %q, want field %q with %q", got.Field, got.Problem, tt.wantField, tt.wantIn)
			}
		})
	}
	// The kind-specific decoders apply the same rule.
	if _, err := DecodeOrder(dupAmount); err == nil || !strings.Contains(err.Error(), "amount: duplicate key") {
		t.Errorf("DecodeOrder(duplicate amount): got %v, want amount: duplicate key", err)
	}
}

// manyKeys is an object with n distinct keys k0..k(n-1), and dup once more
// at the end when not empty.
func manyKeys(n int, dup string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + itoa(i) + `":1`)
	}
	if dup != "" {
		b.WriteString(`,"` + dup + `":2`)
	}
	b.WriteByte('}')
	return b.String()
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
