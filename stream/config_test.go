package stream

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/surgeio/surge/schemas"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
)

func TestTopicsFor(t *testing.T) {
	tp := DefaultTopics()
	tests := []struct {
		kind schemas.Kind
		want string
	}{
		{schemas.KindOrder, "orders"},
		{schemas.KindOrderStatus, "orders"},
		{schemas.KindUserEvent, "user-events"},
		{schemas.KindCoupon, "coupons"},
		{"refund", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := tp.For(tt.kind); got != tt.want {
			t.Errorf("For(%q): got %q, want %q", tt.kind, got, tt.want)
		}
	}
}

func TestTopicsAllAndData(t *testing.T) {
	tests := []struct {
		name     string
		topics   Topics
		wantAll  []string
		wantData []string
	}{
		{"defaults", DefaultTopics(),
			[]string{"orders", "orders-priority", "user-events", "coupons", "dead-letters"},
			[]string{"orders", "orders-priority", "user-events", "coupons"}},
		{"no dead letters", Topics{Orders: "o", UserEvents: "u", Coupons: "c"},
			[]string{"o", "u", "c"}, []string{"o", "u", "c"}},
		{"zero", Topics{}, []string{}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.topics.All(); !slices.Equal(got, tt.wantAll) {
				t.Errorf("All: got %q, want %q", got, tt.wantAll)
			}
			if got := tt.topics.Data(); !slices.Equal(got, tt.wantData) {
				t.Errorf("Data: got %q, want %q", got, tt.wantData)
			}
		})
	}
}

func TestClientConfigOpts(t *testing.T) {
	addrs := newCluster(t)
	var logs bytes.Buffer
	cfg := ClientConfig{
		Brokers:   addrs,
		ClientID:  "surge-test",
		Logger:    slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		ExtraOpts: []kgo.Opt{kgo.DefaultProduceTopic("orders")},
	}
	cl, err := cfg.NewClient()
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	defer cl.Close()

	if got := cl.OptValue(kgo.ClientID); got != "surge-test" {
		t.Errorf("client id: got %v, want surge-test", got)
	}
	if got := cl.OptValue(kgo.DefaultProduceTopic); got != "orders" {
		t.Errorf("extra opt DefaultProduceTopic: got %v, want orders", got)
	}
	if err := cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("produce through configured client: %v", err)
	}
	// kgo logs connections and metadata at debug and info; the bridge
	// passes only warnings and errors even to a debug-level logger.
	if strings.Contains(logs.String(), "level=INFO") || strings.Contains(logs.String(), "level=DEBUG") {
		t.Errorf("got info/debug client logs %q, want only warn and above", logs.String())
	}
}

func TestLoggerBridgeLevel(t *testing.T) {
	var buf bytes.Buffer
	l := atLeastWarn(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if got := kslog.New(l).Level(); got != kgo.LogLevelWarn {
		t.Errorf("kslog level: got %v, want %v", got, kgo.LogLevelWarn)
	}
	l.With("k", "v").WithGroup("g").Info("dropped")
	l.With("k", "v").WithGroup("g").Warn("kept", "n", 1)
	out := buf.String()
	if strings.Contains(out, "dropped") || !strings.Contains(out, "kept") || !strings.Contains(out, "k=v g.n=1") {
		t.Errorf("got log %q, want only the warning, with its attributes and group", out)
	}
	if l.Enabled(context.Background(), slog.LevelInfo) {
		t.Errorf("info enabled: got true, want false")
	}
}

func TestClientConfigEmpty(t *testing.T) {
	if got := len(ClientConfig{}.Opts()); got != 0 {
		t.Errorf("zero config: got %d options, want 0", got)
	}
}

func TestRoute(t *testing.T) {
	tp := DefaultTopics()
	tests := []struct {
		r    schemas.Record
		want string
	}{
		{&schemas.Order{Priority: schemas.PriorityNormal}, "orders"},
		{&schemas.Order{}, "orders"},
		{&schemas.Order{Priority: schemas.PriorityVIP}, "orders-priority"},
		{&schemas.Order{Priority: schemas.PriorityUrgent}, "orders-priority"},
		{&schemas.OrderStatus{Priority: schemas.PriorityVIP}, "orders-priority"},
		{&schemas.OrderStatus{}, "orders"},
		{(*schemas.Order)(nil), "orders"},
		{&schemas.UserEvent{}, "user-events"},
		{&schemas.Coupon{}, "coupons"},
	}
	for _, tt := range tests {
		if got := tp.Route(tt.r); got != tt.want {
			t.Errorf("Route(%#v): got %q, want %q", tt.r, got, tt.want)
		}
	}
	noLane := tp
	noLane.OrdersPriority = ""
	if got := noLane.Route(&schemas.Order{Priority: schemas.PriorityVIP}); got != "orders" {
		t.Errorf("Route without a priority lane: got %q, want orders", got)
	}
}
