package schemas

import "testing"

// benchUserEvent is a typical user event, about 200 bytes.
var benchUserEvent = []byte(`{"kind":"user_event","v":1,"event_id":"01JDQ3Z8M4X7N2K9P5R6T8V0WY","user_id":"u-000123456","session_id":"s-01JDQ3Z8M4X7N2K9P5R6","type":"add_to_cart","sku":"SKU-RED-SHOE-42","campaign_id":"bf-2024","ts":"2024-11-29T08:00:00.123Z"}`)

var benchOrder = []byte(`{"kind":"order","v":1,"event_id":"01JDQ3Z8M4X7N2K9P5R6T8V0WY","order_id":"o-000987654","user_id":"u-000123456","items":[{"sku":"SKU-RED-SHOE-42","qty":1,"unit_price":5999},{"sku":"SKU-SOCKS-3PK","qty":2,"unit_price":999}],"amount":7997,"currency":"EUR","campaign_id":"bf-2024","priority":"vip","created_at":"2024-11-29T08:00:00.123Z"}`)

func BenchmarkDecodeUserEvent(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchUserEvent)))
	for b.Loop() {
		if _, err := DecodeUserEvent(benchUserEvent); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchUserEvent)))
	for b.Loop() {
		if _, err := Decode(benchUserEvent); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeOrder(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchOrder)))
	for b.Loop() {
		if _, err := DecodeOrder(benchOrder); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	e, err := DecodeUserEvent(benchUserEvent)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	buf := make([]byte, 0, 512)
	for b.Loop() {
		if buf, err = AppendJSON(buf[:0], e); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkAppendJSONOrder(b *testing.B) {
	o, err := DecodeOrder(benchOrder)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	buf := make([]byte, 0, 512)
	for b.Loop() {
		if buf, err = AppendJSON(buf[:0], o); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkNewEventID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = NewEventID()
	}
}
