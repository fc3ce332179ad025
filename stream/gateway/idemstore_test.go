package gateway

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
)

// hasPointers reports whether values of t hold pointers the garbage
// collector would have to scan.
func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	case reflect.Pointer, reflect.UnsafePointer, reflect.String, reflect.Slice, reflect.Map,
		reflect.Chan, reflect.Func, reflect.Interface:
		return true
	}
	return false
}

// The window's per-key storage must stay pointer-free: with pointers, the
// garbage collector scans every key on every cycle, which stalled all
// requests for 100 ms and more once the window held a few hundred
// thousand keys.
func TestWindowStorageHasNoPointers(t *testing.T) {
	w := newWindow(time.Hour, 10, time.Now)
	ids := reflect.TypeOf(w.ids)
	for _, tt := range []struct {
		name string
		typ  reflect.Type
	}{
		{"slot", reflect.TypeFor[slot]()},
		{"slot page", reflect.TypeFor[slotPage]()},
		{"map key", ids.Key()},
		{"map value", ids.Elem()},
		{"arena chunk element", reflect.TypeOf(w.acks.chunks).Elem().Elem()},
	} {
		if hasPointers(tt.typ) {
			t.Errorf("%s (%s): got pointers, want none", tt.name, tt.typ)
		}
	}
}

func TestAcksRoundTrip(t *testing.T) {
	ack := func(kind, id, topic string, p int32, off int64) savedAck {
		return savedAck{ok: true, kind: schemas.Kind(kind), eventID: id, ack: stream.Ack{Topic: topic, Partition: p, Offset: off}}
	}
	tests := []struct {
		name string
		in   []savedAck
		want []savedAck
	}{
		{"none", nil, nil},
		{"nothing accepted", []savedAck{{}, {}}, nil},
		{"one order", []savedAck{ack("order", "01JD5Z", "orders-priority", 3, 1207)}, []savedAck{ack("order", "01JD5Z", "orders-priority", 3, 1207)}},
		{"gaps stay gaps", []savedAck{{}, ack("user_event", "e-1", "user-events", 0, 0), {}, ack("user_event", "é-\"2\"", "user-events", 7, 1<<40)},
			[]savedAck{{}, ack("user_event", "e-1", "user-events", 0, 0), {}, ack("user_event", "é-\"2\"", "user-events", 7, 1<<40)}},
		{"trailing failures dropped", []savedAck{ack("order", "o", "orders", 1, 2), {}}, []savedAck{ack("order", "o", "orders", 1, 2)}},
		{"long event id", []savedAck{ack("order", strings.Repeat("x", 128), "orders", 0, 9)}, []savedAck{ack("order", strings.Repeat("x", 128), "orders", 0, 9)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeAcks(appendAcks(nil, tt.in))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestArenaReleasesChunks(t *testing.T) {
	a := newArena()
	rec := bytes.Repeat([]byte("a"), 100)
	var spans []span
	for i := range 5000 { // about 8 chunks
		rec[0] = byte(i)
		spans = append(spans, a.put(rec))
	}
	for i, s := range spans {
		if got := a.get(s); len(got) != 100 || got[0] != byte(i) {
			t.Fatalf("span %d: got %d bytes starting %d, want 100 starting %d", i, len(got), got[0], byte(i))
		}
	}
	big := bytes.Repeat([]byte("b"), arenaChunkSize)
	bs := a.put(big)
	if !bytes.Equal(a.get(bs), big) {
		t.Errorf("large span: got %d bytes back, want the %d put", len(a.get(bs)), len(big))
	}
	full := a.bytes()
	for _, s := range spans[:4000] { // oldest first, as keys leave the window
		a.release(s)
	}
	a.release(bs)
	if got := a.bytes(); got > full/3 {
		t.Errorf("after releasing 80%% of the spans and the large one: arena holds %d bytes, want at most %d (was %d)", got, full/3, full)
	}
	for i, s := range spans[4000:] {
		if got := a.get(s); got[0] != byte(4000+i) {
			t.Fatalf("span %d after releases: got first byte %d, want %d", 4000+i, got[0], byte(4000+i))
		}
	}
	// Freed chunk indexes are reused, so the chunk list does not grow
	// while keys come and go.
	n := len(a.chunks)
	for range 10 {
		for _, s := range spans[4000:] {
			a.release(s)
		}
		for i := range spans[4000:] {
			spans[4000+i] = a.put(rec)
		}
	}
	if len(a.chunks) > n+2 {
		t.Errorf("after keys came and went: %d chunk slots, want at most %d", len(a.chunks), n+2)
	}
}

// A full window keeps its bound and its memory: old keys go, their acks
// with them, and their answers stay right for the keys kept.
func TestWindowChurn(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	w := newWindow(time.Hour, 1000, func() time.Time { return now })
	key := func(i int) string { return "shop|o:order-" + strconv.Itoa(i) }
	for i := range 20_000 {
		c, _, st := w.begin(key(i), hashBody([]byte(key(i))))
		if st != claimed {
			t.Fatalf("key %d: got %v, want claimed", i, st)
		}
		w.finish(c, []savedAck{{ok: true, kind: "order", eventID: "ev-" + strconv.Itoa(i), ack: stream.Ack{Topic: "orders", Partition: int32(i % 8), Offset: int64(i)}}})
	}
	if w.len() != 1000 || w.evicted != 19_000 || w.slots.used != 1000 {
		t.Errorf("after 20,000 keys: got %d keys (%d slots), %d evicted, want 1000 and 19,000", w.len(), w.slots.used, w.evicted)
	}
	if got, want := w.acks.bytes(), 4*arenaChunkSize; got > want {
		t.Errorf("arena holds %d bytes for 1000 keys, want at most %d", got, want)
	}
	if got := len(w.slots.pages); got > 2 {
		t.Errorf("slot pages: got %d for 1000 keys, want at most 2 (freed slots are reused)", got)
	}
	for _, i := range []int{19_000, 19_500, 19_999} {
		c, _, st := w.begin(key(i), hashBody([]byte(key(i))))
		if st != claimed || !c.accepted(0) || c.acks[0].ack.Offset != int64(i) || c.acks[0].eventID != "ev-"+strconv.Itoa(i) {
			t.Fatalf("key %d kept: got %v %+v, want claimed with offset %d", i, st, c, i)
		}
		w.finish(c, nil)
	}
	c, _, st := w.begin(key(0), hashBody([]byte("another body")))
	if st != claimed {
		t.Fatalf("evicted key with another body: got %v, want claimed (forgotten)", st)
	}
	w.finish(c, nil)
	// Everything expires after the window.
	now = now.Add(2 * time.Hour)
	for range 200 {
		c, _, _ := w.begin("shop|h:later", hashBody(nil))
		w.finish(c, nil)
	}
	if got := w.len(); got != 0 {
		t.Errorf("after the window: got %d keys, want the expired ones dropped as keys arrive", got)
	}
	if got := w.acks.bytes(); got > arenaChunkSize {
		t.Errorf("after the window: arena holds %d bytes, want at most the chunk being filled (%d)", got, arenaChunkSize)
	}
}

// A key loaded from the topic answers like one stored by a request, and a
// newer load replaces it.
func TestWindowLoad(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	w := newWindow(time.Hour, 10, func() time.Time { return now })
	h := hashBody([]byte("body"))
	a1 := []savedAck{{ok: true, kind: "order", eventID: "e1", ack: stream.Ack{Topic: "orders", Partition: 1, Offset: 5}}}
	a2 := []savedAck{{ok: true, kind: "order", eventID: "e1", ack: stream.Ack{Topic: "orders", Partition: 1, Offset: 6}}}
	w.load("shop|o:1", h, now.UnixMilli(), a1)
	w.load("shop|o:1", h, now.UnixMilli(), a2)
	w.load("shop|o:old", h, now.Add(-2*time.Hour).UnixMilli(), a1)
	if w.len() != 1 {
		t.Errorf("after loads: got %d keys, want 1 (the old result is outside the window)", w.len())
	}
	c, _, st := w.begin("shop|o:1", h)
	if st != claimed || !c.accepted(0) || c.acks[0].ack.Offset != 6 {
		t.Errorf("loaded key: got %v %+v, want claimed with the newer ack (offset 6)", st, c)
	}
}

// The idempotency topic's value is written without a reflection encoder;
// it must read back as what json.Marshal of an idemValue would give.
func TestIdemValueEncoding(t *testing.T) {
	h := hashBody([]byte(`{"order_id":"o-1"}`))
	acks := []savedAck{
		{},
		{ok: true, kind: "user_event", eventID: "01JD5Z\"quoted\"\u00e9", ack: stream.Ack{Topic: "user-events", Partition: 7, Offset: 1 << 40}},
		{ok: true, kind: "order", eventID: "<script>", ack: stream.Ack{Topic: "orders-priority", Partition: 0, Offset: 0}},
	}
	b := appendIdemValue(nil, h, 1_700_000_000_123, acks)
	var got idemValue
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	want := idemValue{V: 1, Hash: hex.EncodeToString(h[:]), Created: 1_700_000_000_123, Acks: []idemAck{
		{Index: 1, Kind: "user_event", EventID: "01JD5Z\"quoted\"\u00e9", Topic: "user-events", Partition: 7, Offset: 1 << 40},
		{Index: 2, Kind: "order", EventID: "<script>", Topic: "orders-priority"},
	}}
	ref, err := json.Marshal(idemValue{V: 1, Hash: "x"})
	if err != nil || !bytes.HasPrefix(ref, []byte(`{"v":1,"h":"x","t":0,"a":`)) {
		t.Fatalf("json.Marshal field order changed: %s (%v)", ref, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	w := newWindow(time.Hour, 10, func() time.Time { return time.UnixMilli(1_700_000_000_200) })
	if !applyIdemRecord(w, &kgo.Record{Key: []byte("shop|h:k"), Value: b}) || w.len() != 1 {
		t.Fatalf("the encoded value was not taken back by the loader: %s", b)
	}
	if c, _, st := w.begin("shop|h:k", h); st != claimed || !c.accepted(1) || !c.accepted(2) || c.accepted(0) || c.acks[1].ack.Offset != 1<<40 {
		t.Errorf("loaded result: got %v %+v, want items 1 and 2 accepted", st, c)
	}
}
