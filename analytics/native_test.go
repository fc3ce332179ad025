package analytics

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
)

// encoded is col's native encoding, as clickhouse-go sends it.
func encoded(t testing.TB, col column.Interface) []byte {
	t.Helper()
	var b proto.Buffer
	col.Encode(&b)
	return b.Buf
}

func newColumn(t testing.TB, typ string) column.Interface {
	t.Helper()
	col, err := column.Type(typ).Column("c", &column.ServerContext{Timezone: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	return col
}

// TestFillNative: a column filled by fillNative encodes to the same bytes
// as one filled by clickhouse-go's Append, for every type it handles, with
// empty, unicode, long and extreme values; a type or value it does not
// handle is left to Append.
func TestFillNative(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 11, 12, 0, time.UTC)
	cases := []struct {
		typ string
		v   any
	}{
		{"String", []string{"", "a", "ünïcødé ✓", strings.Repeat("x", 300), "\x00\xff"}},
		{"UInt8", []uint8{0, 1, 255}},
		{"Int32", []int32{0, -1, math.MinInt32, math.MaxInt32}},
		{"UInt32", []uint32{0, 1, math.MaxUint32}},
		{"Int64", []int64{0, -1, math.MinInt64, math.MaxInt64}},
		{"UInt64", []uint64{0, 1, math.MaxUint64}},
		{"DateTime", []time.Time{at, at.Add(time.Hour), time.Unix(0, 0), {}}},
		{"String", []string{}},
	}
	var scratch []byte
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%d", c.typ, lenOf(c.v)), func(t *testing.T) {
			want := newColumn(t, c.typ)
			if _, err := want.Append(c.v); err != nil {
				t.Fatal(err)
			}
			got := newColumn(t, c.typ)
			ok, err := fillNative(got, c.v, &scratch)
			if !ok || err != nil {
				t.Fatalf("fillNative: ok %v, err %v", ok, err)
			}
			if got.Rows() != want.Rows() {
				t.Fatalf("rows: got %d, want %d", got.Rows(), want.Rows())
			}
			if g, w := encoded(t, got), encoded(t, want); !bytes.Equal(g, w) {
				t.Errorf("encoding differs from Append's:\n got %x\nwant %x", g, w)
			}
		})
	}
	for _, c := range []struct {
		typ string
		v   any
	}{
		{"String", []int64{1}},                      // wrong slice: Append reports it
		{"Int64", []int32{1}},                       // likewise
		{"Nullable(String)", []string{"a"}},         // not a type it encodes
		{"DateTime('Asia/Tokyo')", []time.Time{at}}, // likewise
	} {
		ok, err := fillNative(newColumn(t, c.typ), c.v, &scratch)
		if ok || err != nil {
			t.Errorf("%s with %T: ok %v, err %v; want it left to Append", c.typ, c.v, ok, err)
		}
	}
}

func lenOf(v any) int {
	switch s := v.(type) {
	case []string:
		return len(s)
	case []time.Time:
		return len(s)
	}
	return -1
}

// BenchmarkNative compares filling a column of 200k values with
// clickhouse-go's Append and with fillNative.
//
//	go test -run '^$' -bench Native -benchmem ./analytics
func BenchmarkNative(b *testing.B) {
	const n = 200_000
	strs := make([]string, n)
	for i := range strs {
		strs[i] = fmt.Sprintf("user-%06d", i%50_000)
	}
	u64 := make([]uint64, n)
	for i := range u64 {
		u64[i] = uint64(i) * 0x9e3779b97f4a7c15
	}
	for _, c := range []struct {
		typ string
		v   any
	}{{"String", strs}, {"UInt64", u64}} {
		b.Run(c.typ+"/append", func(b *testing.B) {
			for b.Loop() {
				if _, err := newColumn(b, c.typ).Append(c.v); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.typ+"/native", func(b *testing.B) {
			var scratch []byte
			for b.Loop() {
				if _, err := fillNative(newColumn(b, c.typ), c.v, &scratch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
