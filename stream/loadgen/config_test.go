package loadgen

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/schemas"
)

func nopSender(_ context.Context, _ schemas.Record, done func(error)) { done(nil) }

func TestNewRejectsBadConfig(t *testing.T) {
	good := Campaign{ID: "x", Currency: "USD", SKUs: 10, MinPrice: 100, MaxPrice: 200, Weight: 1}
	with := func(f func(*Campaign)) []Campaign {
		c := good
		f(&c)
		return []Campaign{c}
	}
	tests := []struct {
		name string
		cfg  Config
		want string // in the error
	}{
		{"negative rate", Config{Rate: -1}, "Rate"},
		{"negative duration", Config{Duration: -time.Second}, "Duration"},
		{"negative max records", Config{MaxRecords: -1}, "MaxRecords"},
		{"negative users", Config{Users: -5}, "Users"},
		{"too many users", Config{Users: MaxUsers + 1}, "Users"},
		{"VIP share above one", Config{VIPShare: 1.5}, "VIPShare"},
		{"unknown shape", Config{Shape: "sawtooth"}, `Shape is "sawtooth"`},
		{"spike without duration", Config{Rate: 10, Shape: ShapeSpike}, "needs a Duration"},
		{"negative max in flight", Config{MaxInFlight: -1}, "MaxInFlight"},
		{"campaign without id", Config{Campaigns: with(func(c *Campaign) { c.ID = "" })}, "Campaigns[0].ID"},
		{"lower-case currency", Config{Campaigns: with(func(c *Campaign) { c.Currency = "usd" })}, "Campaigns[0].Currency"},
		{"unknown currency", Config{Campaigns: with(func(c *Campaign) { c.Currency = "ABC" })}, "Campaigns[0].Currency"},
		{"no SKUs", Config{Campaigns: with(func(c *Campaign) { c.SKUs = 0 })}, "Campaigns[0].SKUs"},
		{"zero min price", Config{Campaigns: with(func(c *Campaign) { c.MinPrice = 0 })}, "Campaigns[0].MinPrice"},
		{"max below min", Config{Campaigns: with(func(c *Campaign) { c.MaxPrice = 50 })}, "Campaigns[0].MaxPrice"},
		{"negative weight", Config{Campaigns: with(func(c *Campaign) { c.Weight = -1 })}, "Campaigns[0].Weight"},
		{"all weights zero", Config{Campaigns: with(func(c *Campaign) { c.Weight = 0 })}, "no positive Weight"},
		{"duplicate campaign", Config{Campaigns: []Campaign{good, good}}, `Campaigns[1].ID "x" repeats`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, nopSender)
			if err == nil {
				t.Fatalf("New(%+v) = nil error, want one naming %q", tt.cfg, tt.want)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %v does not wrap ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
	if _, err := New(Config{}, nil); err == nil || !strings.Contains(err.Error(), "Sender") {
		t.Errorf("New with a nil sender: error = %v, want one naming the Sender", err)
	}
}

func TestDefaults(t *testing.T) {
	mine := []Campaign{{ID: "x", Currency: "JPY", SKUs: 10, MinPrice: 100, MaxPrice: 200, Weight: 1}}
	tests := []struct {
		name string
		cfg  Config
		want Config // fields checked: Users, VIPShare, Shape, MaxInFlight, len(Campaigns)
	}{
		{"zero", Config{}, Config{Users: DefaultUsers, VIPShare: DefaultVIPShare, Shape: ShapeSteady, MaxInFlight: DefaultMaxInFlight, Campaigns: DefaultCampaigns()}},
		{"with duration", Config{Duration: time.Minute}, Config{Users: DefaultUsers, VIPShare: DefaultVIPShare, Shape: ShapeSpike, MaxInFlight: DefaultMaxInFlight, Campaigns: DefaultCampaigns()}},
		{"set", Config{Users: 7, VIPShare: 0.5, Shape: ShapeRamp, Duration: time.Second, MaxInFlight: 3, Campaigns: mine},
			Config{Users: 7, VIPShare: 0.5, Shape: ShapeRamp, MaxInFlight: 3, Campaigns: mine}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := New(tt.cfg, nopSender)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			got := g.Config()
			if got.Users != tt.want.Users || got.VIPShare != tt.want.VIPShare || got.Shape != tt.want.Shape ||
				got.MaxInFlight != tt.want.MaxInFlight || len(got.Campaigns) != len(tt.want.Campaigns) {
				t.Errorf("Config() = Users %d VIPShare %v Shape %s MaxInFlight %d %d campaigns, want %d %v %s %d %d",
					got.Users, got.VIPShare, got.Shape, got.MaxInFlight, len(got.Campaigns),
					tt.want.Users, tt.want.VIPShare, tt.want.Shape, tt.want.MaxInFlight, len(tt.want.Campaigns))
			}
		})
	}
	// New copies the caller's campaigns.
	g, err := New(Config{Campaigns: mine}, nopSender)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mine[0].ID = "changed"
	if got := g.Config().Campaigns[0].ID; got != "x" {
		t.Errorf("campaign id after the caller changed its slice = %q, want %q", got, "x")
	}
	// Seed 0 picks a random seed and reports it.
	g1, _ := New(Config{}, nopSender)
	g2, _ := New(Config{}, nopSender)
	if g1.Seed() == 0 || g1.Seed() == g2.Seed() {
		t.Errorf("random seeds %d and %d, want two distinct non-zero seeds", g1.Seed(), g2.Seed())
	}
}

func TestDefaultCampaignsValid(t *testing.T) {
	cs := DefaultCampaigns()
	if err := validateCampaigns(cs); err != nil {
		t.Fatalf("DefaultCampaigns: %v", err)
	}
	currencies := map[string]bool{}
	for _, c := range cs {
		currencies[c.Currency] = true
	}
	for _, want := range []string{"USD", "EUR", "JPY", "CNY"} {
		if !currencies[want] {
			t.Errorf("DefaultCampaigns has no %s campaign", want)
		}
	}
}
