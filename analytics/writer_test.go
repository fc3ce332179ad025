package analytics_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/schemas"
)

// queryAll runs query and returns its rows with DateTime values in UTC.
func queryAll(t *testing.T, conn *analytics.Conn, query string, args ...any) [][]any {
	t.Helper()
	rows, err := conn.DB().Query(context.Background(), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		dest := make([]any, len(rows.ColumnTypes()))
		for i, ct := range rows.ColumnTypes() {
			dest[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		row := make([]any, len(dest))
		for i, d := range dest {
			row[i] = reflect.ValueOf(d).Elem().Interface()
			if tm, ok := row[i].(time.Time); ok {
				row[i] = tm.UTC()
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestWriteRoundTrip(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	ctx := context.Background()
	ingested := utc("2024-11-29T12:00:00.900Z")
	epoch := time.Unix(0, 0).UTC()

	b := analytics.NewBatch()
	b.AddOrder(analytics.Source{Topic: "orders", Partition: 3, Offset: 42}, &schemas.Order{
		EventID: "e-1", Version: 1, OrderID: "o-1", UserID: "ユーザー-1", Amount: -1500, Currency: "EUR",
		CampaignID: "黑色星期五", Priority: schemas.PriorityVIP, CouponID: "c-1",
		Items:     []schemas.Item{{SKU: "sku-é", Qty: 2, UnitPrice: -750}, {SKU: "🧦", Qty: 1, UnitPrice: 0}},
		CreatedAt: utc("2024-11-29T10:00:00.250Z"),
	})
	b.AddOrder(analytics.Source{Topic: "orders", Partition: 0, Offset: 43}, &schemas.Order{
		EventID: "e-2", Version: 2, OrderID: "o-2", UserID: "u-2", Amount: 1<<63 - 1, Currency: "JPY",
		Priority: schemas.PriorityNormal,
	})
	b.AddOrderStatus(analytics.Source{Topic: "orders", Partition: 3, Offset: 44}, &schemas.OrderStatus{
		EventID: "e-3", Version: 1, OrderID: "o-1 ✓", UserID: "ユーザー-1", Status: schemas.StatusPaid,
		TS: utc("2024-11-29T10:00:05.007Z"),
	})
	b.AddUserEvent(analytics.Source{Topic: "user-events", Partition: 7, Offset: 1}, &schemas.UserEvent{
		EventID: "e-4", Version: 1, UserID: "u-'quote'", SessionID: "s-1", Type: schemas.EventAddToCart,
		SKU: "sku-é", CampaignID: "黑色星期五", TS: utc("2024-11-29T09:59:59.999Z"),
	})
	b.AddUserEvent(analytics.Source{Topic: "user-events", Partition: 7, Offset: 2}, &schemas.UserEvent{
		EventID: "e-5", Version: 1, UserID: `u-\backslash`, SessionID: "s-1", Type: schemas.EventPageView,
		TS: utc("2024-11-29T10:00:00Z"),
	})
	b.AddCoupon(analytics.Source{Topic: "coupons", Partition: 1, Offset: 9}, &schemas.Coupon{
		EventID: "e-6", Version: 1, CouponID: "c-1", UserID: "ユーザー-1", CampaignID: "黑色星期五",
		RuleID: "r-1", Value: -1, Currency: "EUR", IssuedAt: utc("2024-11-29T09:00:00.5Z"),
		TriggerEventID: "e-4",
	})
	long := strings.Repeat("€", 2000) // 6000 bytes; 4096 falls inside a rune
	b.AddReject(analytics.Source{Topic: "orders", Partition: 2, Offset: 5}, "invalid json", []byte(long))
	b.AddReject(analytics.Source{Topic: "orders", Partition: 2, Offset: 6}, "bad bytes", []byte("\x00\xff{"))

	if got, want := b.Len(), 8; got != want {
		t.Fatalf("Len() = %d, want %d", got, want)
	}
	if err := conn.Write(ctx, b, ingested); err != nil {
		t.Fatalf("Write: %v", err)
	}
	ing := utc("2024-11-29T12:00:00Z")

	tests := []struct {
		table string
		query string
		want  [][]any
	}{
		{"orders", `SELECT event_id, v, order_id, user_id, amount, currency, campaign_id, priority, coupon_id,
			item_skus, item_qtys, item_prices, created_at, created_at_ms,
			kafka_topic, kafka_partition, kafka_offset, ingested_at FROM orders ORDER BY kafka_offset`,
			[][]any{
				{"e-1", uint8(1), "o-1", "ユーザー-1", int64(-1500), "EUR", "黑色星期五", "vip", "c-1",
					[]string{"sku-é", "🧦"}, []int64{2, 1}, []int64{-750, 0}, utc("2024-11-29T10:00:00Z"), int64(1732874400250),
					"orders", int32(3), int64(42), ing},
				{"e-2", uint8(2), "o-2", "u-2", int64(1<<63 - 1), "JPY", "", "normal", "",
					[]string{}, []int64{}, []int64{}, epoch, int64(0),
					"orders", int32(0), int64(43), ing},
			}},
		{"order_status", `SELECT event_id, v, order_id, user_id, status, ts, ts_ms,
			kafka_topic, kafka_partition, kafka_offset, ingested_at FROM order_status ORDER BY kafka_offset`,
			[][]any{{"e-3", uint8(1), "o-1 ✓", "ユーザー-1", "paid", utc("2024-11-29T10:00:05Z"), int64(1732874405007),
				"orders", int32(3), int64(44), ing}}},
		{"user_events", `SELECT event_id, v, user_id, session_id, type, sku, campaign_id, ts, ts_ms,
			kafka_topic, kafka_partition, kafka_offset, ingested_at FROM user_events ORDER BY kafka_offset`,
			[][]any{
				{"e-4", uint8(1), "u-'quote'", "s-1", "add_to_cart", "sku-é", "黑色星期五", utc("2024-11-29T09:59:59Z"),
					int64(1732874399999), "user-events", int32(7), int64(1), ing},
				{"e-5", uint8(1), `u-\backslash`, "s-1", "page_view", "", "", utc("2024-11-29T10:00:00Z"),
					int64(1732874400000), "user-events", int32(7), int64(2), ing},
			}},
		{"coupons", `SELECT event_id, v, coupon_id, user_id, campaign_id, rule_id, value, currency,
			issued_at, issued_at_ms, expires_at, trigger_event_id,
			kafka_topic, kafka_partition, kafka_offset, ingested_at FROM coupons ORDER BY kafka_offset`,
			[][]any{{"e-6", uint8(1), "c-1", "ユーザー-1", "黑色星期五", "r-1", int64(-1), "EUR",
				utc("2024-11-29T09:00:00Z"), int64(1732870800500), epoch, "e-4",
				"coupons", int32(1), int64(9), ing}}},
		{"sink_rejects", `SELECT reason, raw, kafka_topic, kafka_partition, kafka_offset, ingested_at
			FROM sink_rejects ORDER BY kafka_offset`,
			[][]any{
				{"invalid json", long[:4095], "orders", int32(2), int64(5), ing},
				{"bad bytes", "\x00\xff{", "orders", int32(2), int64(6), ing},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.table, func(t *testing.T) {
			got := queryAll(t, conn, tt.query)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got rows\n%#v\nwant\n%#v", got, tt.want)
			}
		})
	}
}

// TestWriteOnePartPerTable checks the property the sink's exactly-once
// design rests on: one Write makes exactly one part per table it touches.
func TestWriteOnePartPerTable(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	b := analytics.NewBatch()
	for i := range 5000 {
		b.AddUserEvent(analytics.Source{Topic: "user-events", Partition: int32(i % 8), Offset: int64(i)},
			&schemas.UserEvent{EventID: "e", UserID: "u", Type: schemas.EventPageView,
				TS: utc("2024-11-29T10:00:00Z").Add(time.Duration(i) * 24 * time.Hour)}) // events over 14 months
		if i%10 == 0 {
			b.AddOrder(analytics.Source{Topic: "orders", Partition: int32(i % 8), Offset: int64(i)},
				&schemas.Order{EventID: "o", UserID: "u", Amount: 1, CreatedAt: utc("2024-11-29T10:00:00Z")})
		}
	}
	if err := conn.Write(context.Background(), b, time.Now()); err != nil {
		t.Fatal(err)
	}
	got := queryAll(t, conn, `SELECT table, toUInt64(count()), sum(rows) FROM system.parts
		WHERE database = ? AND active AND table IN ('orders', 'user_events') GROUP BY table ORDER BY table`,
		conn.Database())
	want := [][]any{{"orders", uint64(1), uint64(500)}, {"user_events", uint64(1), uint64(5000)}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parts (table, parts, rows): got %v, want %v", got, want)
	}
}

func TestWriteEmptyBatch(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	if err := conn.Write(context.Background(), analytics.NewBatch(), time.Now()); err != nil {
		t.Fatalf("Write(empty) = %v, want nil", err)
	}
	got := queryAll(t, conn, `SELECT toUInt64(count()) FROM system.parts WHERE database = ? AND active AND table != 'schema_migrations'`, conn.Database())
	if want := [][]any{{uint64(0)}}; !reflect.DeepEqual(got, want) {
		t.Errorf("parts after an empty Write: got %v, want %v", got, want)
	}
}

func TestWriteErrorNamesTable(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	ctx := context.Background()
	if err := conn.DB().Exec(ctx, "DROP TABLE coupons"); err != nil {
		t.Fatal(err)
	}
	b := analytics.NewBatch()
	b.AddOrder(analytics.Source{Topic: "orders", Offset: 1}, &schemas.Order{EventID: "o"})
	b.AddCoupon(analytics.Source{Topic: "coupons", Offset: 1}, &schemas.Coupon{EventID: "c"})
	err := conn.Write(ctx, b, time.Now())
	if err == nil || !strings.Contains(err.Error(), "into coupons") {
		t.Fatalf("Write with coupons dropped: got %v, want an error naming coupons", err)
	}
	// orders comes first in the write order and has landed.
	if got := queryAll(t, conn, "SELECT count() FROM orders"); !reflect.DeepEqual(got, [][]any{{uint64(1)}}) {
		t.Errorf("orders rows after the failed Write: got %v, want [[1]]", got)
	}
}

func TestBatchResetKeepsMemory(t *testing.T) {
	b := analytics.NewBatch()
	ev := &schemas.UserEvent{EventID: "e", UserID: "u", Type: schemas.EventSearch}
	fill := func() {
		for i := range 1000 {
			b.AddUserEvent(analytics.Source{Topic: "t", Offset: int64(i)}, ev)
			b.AddReject(analytics.Source{Topic: "t", Offset: int64(i)}, "r", nil)
		}
	}
	fill()
	if got, want := b.TableLen(analytics.TableUserEvents), 1000; got != want {
		t.Errorf("TableLen(user_events) = %d, want %d", got, want)
	}
	b.Reset()
	if got := b.Len(); got != 0 {
		t.Errorf("Len() after Reset = %d, want 0", got)
	}
	// AddReject converts raw to a string, so rejects allocate; events do not.
	allocs := testing.AllocsPerRun(5, func() {
		for i := range 1000 {
			b.AddUserEvent(analytics.Source{Topic: "t", Offset: int64(i)}, ev)
		}
		b.Reset()
	})
	if allocs != 0 {
		t.Errorf("refilling a reset batch: %v allocations, want 0", allocs)
	}
}

func TestWatermarks(t *testing.T) {
	conn := testenv.ClickHouseConn(t)
	ctx := context.Background()
	b := analytics.NewBatch()
	for _, off := range []int64{3, 10, 7} {
		b.AddOrder(analytics.Source{Topic: "orders", Partition: 0, Offset: off}, &schemas.Order{EventID: "o"})
	}
	b.AddOrder(analytics.Source{Topic: "orders", Partition: 1, Offset: 5}, &schemas.Order{EventID: "o"})
	b.AddOrderStatus(analytics.Source{Topic: "orders", Partition: 1, Offset: 4}, &schemas.OrderStatus{EventID: "s"})
	b.AddReject(analytics.Source{Topic: "orders", Partition: 1, Offset: 6}, "bad", []byte("x"))
	b.AddUserEvent(analytics.Source{Topic: "user-events", Partition: 0, Offset: 1 << 40}, &schemas.UserEvent{EventID: "e"})
	b.AddCoupon(analytics.Source{Topic: "coupons", Partition: 2, Offset: 0}, &schemas.Coupon{EventID: "c"})
	if err := conn.Write(ctx, b, time.Now()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		topic string
		want  map[analytics.Table]map[int32]int64
	}{
		{"orders", map[analytics.Table]map[int32]int64{
			analytics.TableOrders:      {0: 10, 1: 5},
			analytics.TableOrderStatus: {1: 4},
			analytics.TableSinkRejects: {1: 6},
		}},
		{"user-events", map[analytics.Table]map[int32]int64{analytics.TableUserEvents: {0: 1 << 40}}},
		{"coupons", map[analytics.Table]map[int32]int64{analytics.TableCoupons: {2: 0}}},
		{"unknown", map[analytics.Table]map[int32]int64{}},
		{"orders' OR '1'='1", map[analytics.Table]map[int32]int64{}},
	}
	for _, tt := range tests {
		got, err := conn.Watermarks(ctx, tt.topic)
		if err != nil {
			t.Fatalf("Watermarks(%q): %v", tt.topic, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Watermarks(%q) = %v, want %v", tt.topic, got, tt.want)
		}
	}
}
