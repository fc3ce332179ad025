package schemas

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// sharedReader is reused by every checkPathsAgree, as a hot loop reuses
// its Reader.
var sharedReader Reader

// checkPathsAgree fails t unless Decode (canonical fast path first), a
// reused Reader and the general decoder give the same record or the same
// error for data, and EventID finds the record's event id.
func checkPathsAgree(t *testing.T, data []byte) {
	t.Helper()
	now := nowFunc()
	want, wantErr := decodeGeneral(data, "", now)
	sharedReader.SetNow(now)
	read, readErr := sharedReader.Read(data)
	got, gotErr := Decode(data)
	for _, p := range []struct {
		name string
		r    Record
		err  error
	}{{"Decode", got, gotErr}, {"Reader.Read", read, readErr}} {
		if (p.err == nil) != (wantErr == nil) || p.err != nil && p.err.Error() != wantErr.Error() {
			t.Fatalf("%s(%q): got error %v, the general decoder says %v", p.name, data, p.err, wantErr)
		}
		if !reflect.DeepEqual(p.r, want) {
			t.Fatalf("%s(%q):\ngot  %+v\nwant %+v (general decoder)", p.name, data, p.r, want)
		}
	}
	if want != nil {
		if id := EventID(data); id != eventIDOf(want) {
			t.Fatalf("EventID(%q): got %q, want %q", data, id, eventIDOf(want))
		}
	}
}

func eventIDOf(r Record) string {
	switch v := r.(type) {
	case *Order:
		return v.EventID
	case *OrderStatus:
		return v.EventID
	case *UserEvent:
		return v.EventID
	case *Coupon:
		return v.EventID
	}
	return ""
}

// TestCanonicalAgrees runs both decoding paths over the test records and
// over canonical records edited to break one rule each.
func TestCanonicalAgrees(t *testing.T) {
	var inputs [][]byte
	for _, dir := range []string{"valid", "invalid", "golden"} {
		files, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range files {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			inputs = append(inputs, data)
		}
	}
	canon := map[string][]byte{"event": benchUserEvent, "order": benchOrder}
	for _, r := range []Record{mustDecode(t, orderRec.json()), mustDecode(t, statusRec.json()),
		mustDecode(t, eventRec.json()), mustDecode(t, couponRec.json())} {
		enc, err := Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := canonical(enc, "", nowFunc()); !ok {
			t.Fatalf("Encode wrote %q, which the canonical scanner does not read", enc)
		}
		canon[string(r.Kind())] = enc
	}
	edits := [][2]string{
		{`"amount":7997`, `"amount":-7997`},
		{`"amount":7997`, `"amount":0`},
		{`"amount":7997`, `"amount":7996`},
		{`"amount":7997`, `"amount":07997`},
		{`"qty":1`, `"qty":0`},
		{`"currency":"EUR"`, `"currency":"eur"`},
		{`"currency":"EUR"`, `"currency":"XXX"`},
		{`"priority":"vip"`, `"priority":"gold"`},
		{`"type":"add_to_cart"`, `"type":"teleport"`},
		{`,"sku":"SKU-RED-SHOE-42"`, ``},
		{`"v":1`, `"v":0`},
		{`"v":1`, `"v":99`},
		{`"user_id":"u-000123456"`, `"user_id":""`},
		{`"user_id":"u-000123456"`, `"user_id":"ü-000123456"`},
		{`"user_id":"u-000123456"`, `"user_id":"u-\u0030"`},
		{`"user_id":"u-000123456"`, `"user_id":"` + strings.Repeat("u", MaxIDBytes+1) + `"`},
		{`2024-11-29T08:00:00.123Z`, `1999-12-31T23:59:59.999Z`},
		{`2024-11-29T08:00:00.123Z`, `2024-02-30T08:00:00.123Z`},
		{`2024-11-29T08:00:00.123Z`, `2023-02-29T08:00:00.123Z`},
		{`2024-11-29T08:00:00.123Z`, `2024-02-29T24:00:00.123Z`},
		{`2024-11-29T08:00:00.123Z`, `2999-01-01T00:00:00.000Z`},
		{`2024-11-29T08:00:00.123Z`, `2024-11-29T08:00:00.123+01:00`},
		{`2024-11-29T08:00:00.123Z`, `2024-11-29T08:00:00Z`},
		{`"kind":"user_event"`, `"kind":"order"`},
		{`{"kind"`, ` {"kind"`},
		{`,"ts"`, `,"extra":1,"ts"`},
	}
	for _, c := range canon {
		inputs = append(inputs, c, c[:len(c)-1], append(append([]byte{}, c...), ' '))
		for _, e := range edits {
			if s := string(c); strings.Contains(s, e[0]) {
				inputs = append(inputs, []byte(strings.Replace(s, e[0], e[1], 1)))
			}
		}
	}
	for _, in := range inputs {
		checkPathsAgree(t, in)
	}
	t.Logf("%d inputs", len(inputs))
}

func mustDecode(t *testing.T, data []byte) Record {
	t.Helper()
	r, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestHasSpecial: the word test never misses a byte that is not plain,
// and says false for words of plain bytes only.
func TestHasSpecial(t *testing.T) {
	check := func(b [8]byte) {
		var x uint64
		special := false
		for i := 7; i >= 0; i-- {
			x = x<<8 | uint64(b[i])
			special = special || !plainByte[b[i]]
		}
		if got := hasSpecial(x); special && !got || !special && got {
			t.Fatalf("hasSpecial(% x): got %v, want %v", b, got, special)
		}
	}
	plain := [8]byte{'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'}
	for pos := range 8 {
		for c := range 256 {
			b := plain
			b[pos] = byte(c)
			check(b)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		var b [8]byte
		for i := range b {
			b[i] = byte(0x20 + rng.IntN(0x5f)) // mostly plain
			if rng.IntN(16) == 0 {
				b[i] = byte(rng.IntN(256))
			}
		}
		check(b)
	}
}
