package schemas

import (
	stdjson "encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzDecode checks that Decode never panics, that its canonical fast path
// and the general decoder give the same outcome, that every error matches
// ErrInvalid, and that every accepted record is valid JSON, re-validates,
// and survives Encode and Decode unchanged.
//
//	go test -run '^$' -fuzz FuzzDecode -fuzztime 60s -fuzzminimizetime 3s ./schemas
//
// (Minimizing the large inputs the fuzzer finds takes up to the default
// minute each; a shorter -fuzzminimizetime keeps the run fuzzing.)
func FuzzDecode(f *testing.F) {
	for _, dir := range []string{"valid", "invalid", "golden"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		for _, path := range files {
			if data, err := os.ReadFile(path); err == nil {
				f.Add(data)
			}
		}
	}
	for _, r := range []rec{orderRec, statusRec, eventRec, couponRec} {
		f.Add(r.json())
	}
	f.Add(benchOrder)
	f.Add(benchUserEvent)

	f.Fuzz(func(t *testing.T, data []byte) {
		checkPathsAgree(t, data)
		r, err := Decode(data)
		if err != nil {
			if r != nil {
				t.Fatalf("Decode: got record %+v and error %v", r, err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode: got error %v that does not match ErrInvalid", err)
			}
			if msg := err.Error(); len(msg) > 16<<10 {
				t.Fatalf("Decode: got a %d-byte error message", len(msg))
			}
			return
		}
		if !stdjson.Valid(data) || !utf8.Valid(data) {
			t.Fatalf("Decode accepted invalid JSON %q", data)
		}
		if err := Validate(r); err != nil {
			t.Fatalf("Validate(Decode(%q)): got %v, want nil", data, err)
		}
		// The kind-specific decoder agrees.
		var again Record
		switch r.(type) {
		case *Order:
			again, err = DecodeOrder(data)
		case *OrderStatus:
			again, err = DecodeOrderStatus(data)
		case *UserEvent:
			again, err = DecodeUserEvent(data)
		case *Coupon:
			again, err = DecodeCoupon(data)
		}
		if err != nil || !reflect.DeepEqual(again, r) {
			t.Fatalf("Decode%T(%q): got %+v, %v; want %+v", r, data, again, err, r)
		}
		enc, err := Encode(r)
		if err != nil {
			t.Fatalf("Encode(%+v): got %v, want nil", r, err)
		}
		back, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(%+v)) = Decode(%q): got %v", r, enc, err)
		}
		if !reflect.DeepEqual(back, r) {
			t.Fatalf("round trip of %q via %q:\ngot  %+v\nwant %+v", data, enc, back, r)
		}
	})
}
