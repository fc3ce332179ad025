package stream

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func sampleDeadLetter() DeadLetter {
	return DeadLetter{
		Reason:          `invalid order: amount: must not be negative; currency: "XXX" is not an ISO-4217 currency`,
		SourceTopic:     "orders",
		SourcePartition: 5,
		SourceOffset:    123456,
		Group:           "dispatch-inventory",
		Attempts:        4,
		FirstFailure:    time.Date(2024, 11, 29, 8, 0, 0, 125_000_000, time.UTC),
		LastFailure:     time.Date(2024, 11, 29, 8, 0, 3, 875_000_000, time.FixedZone("CET", 3600)),
		Key:             []byte("u-42"),
		Value:           []byte(`{"kind":"order","amount":-1}`),
		Headers:         []kgo.RecordHeader{{Key: HeaderKind, Value: []byte("order")}},
	}
}

func TestDeadLetterHeadersGolden(t *testing.T) {
	r := NewDeadLetterRecord("dead-letters", sampleDeadLetter())
	var b bytes.Buffer
	fmt.Fprintf(&b, "topic=%s\nkey=%s\nvalue=%s\n", r.Topic, r.Key, r.Value)
	for _, h := range r.Headers {
		fmt.Fprintf(&b, "header %s=%s\n", h.Key, h.Value)
	}
	golden := filepath.Join("testdata", "deadletter.golden")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("got record\n%s\nwant\n%s", got, want)
	}
}

// A dead letter goes through a real broker and comes back unchanged.
func TestDeadLetterRoundTrip(t *testing.T) {
	addrs := newCluster(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	minimal := DeadLetter{Reason: "decode: unexpected end of JSON input", SourceTopic: "user-events",
		SourceOffset: 7, Value: []byte("{")}
	tests := []struct {
		name string
		dl   DeadLetter
	}{
		{"full", sampleDeadLetter()},
		{"minimal", minimal},
	}
	ctx := testCtx(t)
	for _, tt := range tests {
		if err := cl.ProduceSync(ctx, NewDeadLetterRecord("dead-letters", tt.dl)).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", tt.name, err)
		}
	}
	recs := consumeAll(t, addrs, "dead-letters", len(tests))
	byTopic := map[string]*kgo.Record{}
	for _, r := range recs {
		byTopic[string(headerValue(r, HeaderSourceTopic))] = r
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDeadLetter(byTopic[tt.dl.SourceTopic])
			if err != nil {
				t.Fatalf("ParseDeadLetter: %v", err)
			}
			want := tt.dl
			want.FirstFailure = want.FirstFailure.UTC()
			want.LastFailure = want.LastFailure.UTC()
			if len(want.Key) == 0 {
				want.Key = nil
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseDeadLetterErrors(t *testing.T) {
	valid := NewDeadLetterRecord("dead-letters", sampleDeadLetter())
	with := func(key, value string) *kgo.Record {
		r := *valid
		r.Headers = nil
		for _, h := range valid.Headers {
			if h.Key == key {
				h.Value = []byte(value)
			}
			r.Headers = append(r.Headers, h)
		}
		return &r
	}
	tests := []struct {
		name    string
		rec     *kgo.Record
		wantErr error
		wantMsg string
	}{
		{"plain record", &kgo.Record{Topic: "dead-letters", Value: []byte("x")}, ErrNotDeadLetter, "surge-error"},
		{"bad partition", with(HeaderSourcePartition, "five"), nil, HeaderSourcePartition},
		{"partition overflow", with(HeaderSourcePartition, "4294967296"), nil, HeaderSourcePartition},
		{"bad offset", with(HeaderSourceOffset, "-x"), nil, HeaderSourceOffset},
		{"bad attempts", with(HeaderAttempts, ""), nil, HeaderAttempts},
		{"bad time", with(HeaderLastFailure, "yesterday"), nil, HeaderLastFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDeadLetter(tt.rec)
			if err == nil {
				t.Fatalf("got no error, want one mentioning %q", tt.wantMsg)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("got error %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("got error %q, want it to mention %q", err, tt.wantMsg)
			}
		})
	}
}

func TestDeadLetterReasonTruncated(t *testing.T) {
	long := strings.Repeat("ä", MaxReasonBytes) // 2 bytes a rune
	r := NewDeadLetterRecord("dl", DeadLetter{Reason: long, SourceTopic: "orders"})
	got := headerValue(r, HeaderError)
	if len(got) > MaxReasonBytes {
		t.Errorf("got reason of %d bytes, want at most %d", len(got), MaxReasonBytes)
	}
	if !bytes.HasSuffix(got, []byte("...")) || !bytes.HasPrefix(got, []byte("ää")) {
		t.Errorf("got reason %q..., want the start of the reason ending in ...", got[:8])
	}
	if !utf8.Valid(got) {
		t.Errorf("got reason cut inside a rune, want valid UTF-8")
	}
}

func headerValue(r *kgo.Record, key string) []byte {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value
		}
	}
	return nil
}

func TestDeadLetterFitsWhateverTheValue(t *testing.T) {
	for _, n := range []int{0, 1000, MaxDeadLetterBytes - 1000, 999_985, 1_048_576, 4 << 20} {
		dl := sampleDeadLetter()
		dl.Value = bytes.Repeat([]byte("x"), n)
		r := NewDeadLetterRecord("dead-letters", dl)
		if got := DeadLetterSize(r); got > MaxDeadLetterBytes {
			t.Errorf("value of %d bytes: dead letter of %d bytes, want at most %d", n, got, MaxDeadLetterBytes)
		}
		back, err := ParseDeadLetter(r)
		if err != nil {
			t.Fatalf("value of %d bytes: %v", n, err)
		}
		cut := len(r.Value) < n
		if back.Truncated != cut || !bytes.Equal(r.Value, dl.Value[:len(r.Value)]) {
			t.Errorf("value of %d bytes: truncated %v with %d bytes kept, want truncated %v and a prefix of the value", n, back.Truncated, len(r.Value), cut)
		}
		if cut {
			sum := sha256.Sum256(dl.Value)
			if back.ValueBytes != n || back.ValueSHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("value of %d bytes: headers say %d bytes, sha256 %s; want %d and the value's", n, back.ValueBytes, back.ValueSHA256, n)
			}
		}
	}
	// A topic with a smaller limit: shrinking again keeps the first headers.
	dl := sampleDeadLetter()
	dl.Value = bytes.Repeat([]byte("y"), 2<<20)
	r := NewDeadLetterRecord("dead-letters", dl)
	if !ShrinkDeadLetter(r, 10_000) || DeadLetterSize(r) > 10_000 {
		t.Fatalf("shrink to 10000: size %d", DeadLetterSize(r))
	}
	back, err := ParseDeadLetter(r)
	if err != nil || back.ValueBytes != 2<<20 {
		t.Errorf("after a second cut: %v, value bytes %d; want the original %d", err, back.ValueBytes, 2<<20)
	}
	n := 0
	for _, h := range r.Headers {
		if h.Key == HeaderValueBytes {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d %s headers after two cuts, want 1", n, HeaderValueBytes)
	}
}
