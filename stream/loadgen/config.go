package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/surgeio/surge/schemas"
)

// Sender hands one record to Kafka asynchronously and calls done exactly once
// when it is acked (err nil) or failed. It may block to push back; it may call
// done before it returns.
type Sender func(ctx context.Context, r schemas.Record, done func(error))

// Shape is the form of the target rate over a run's Duration.
type Shape string

// The traffic shapes. See the package documentation for their exact form.
const (
	ShapeSteady Shape = "steady" // Rate for the whole run
	ShapeRamp   Shape = "ramp"   // linear from 10% to 100% of Rate
	ShapeSpike  Shape = "spike"  // Rate, with 10× Rate for the middle 10% of the run
)

// Defaults applied by New to zero Config fields.
const (
	DefaultUsers       = 10000
	DefaultVIPShare    = 0.05
	DefaultShape       = ShapeSpike
	DefaultMaxInFlight = 10000
)

// Limits New enforces, to keep memory bounded and sums from overflowing.
const (
	MaxUsers       = 100_000_000
	MaxSKUs        = 1_000_000
	MaxPrice       = 1_000_000_000 // minor units, per unit
	MaxMaxInFlight = 10_000_000
)

// Sentinel errors.
var (
	// ErrInvalidConfig is wrapped by every error New returns for a bad
	// Config; the message names the field.
	ErrInvalidConfig = errors.New("invalid config")
	// ErrAlreadyRun is returned by a second call to Generator.Run.
	ErrAlreadyRun = errors.New("loadgen: generator already run")
)

// Config describes one load-generation run. The zero value of every field
// but Rate, Duration, MaxRecords, Seed and OnProgress means its default.
type Config struct {
	// Rate is the target records/s at the shape's nominal level; 0 means as
	// fast as the sender accepts (bounded by MaxInFlight), and the shape is
	// then ignored.
	Rate float64
	// Duration ends the run after this long; 0 means no time limit.
	Duration time.Duration
	// MaxRecords ends the run after this many records; 0 means no limit.
	// With neither Duration nor MaxRecords the run ends when ctx is done.
	MaxRecords int64
	// Users is the population size (default DefaultUsers).
	Users int
	// VIPShare is the fraction of users who are VIP, in (0, 1] (default
	// DefaultVIPShare). round(VIPShare*Users) users are VIP exactly.
	VIPShare float64
	// Shape is the form of the rate over Duration (default ShapeSpike when
	// Duration is set, ShapeSteady when it is not). Ramp and spike need a
	// Duration.
	Shape Shape
	// Seed fixes the record sequence: the same seed gives the same records
	// (ids, users, SKUs, amounts; timestamps are wall clock). 0 picks a
	// random seed, reported by Generator.Seed and Stats.Seed.
	Seed int64
	// Campaigns are the campaigns sessions shop in (default
	// DefaultCampaigns()).
	Campaigns []Campaign
	// MaxInFlight bounds the records handed to the sender and not yet done
	// (default DefaultMaxInFlight). The generator waits when it is reached.
	MaxInFlight int
	// Wallet, when set, holds coupons shoppers may redeem (see Wallet).
	Wallet *Wallet
	// RedeemShare is the share, in (0, 1], of orders by a shopper holding a
	// coupon for the order's campaign that redeem it (default
	// DefaultRedeemShare). Used only with a Wallet.
	RedeemShare float64
	// OnProgress, when set, is called about every 250 ms, and once more at
	// the end of the run, from one goroutine.
	OnProgress func(Progress)
}

// Campaign is a sales campaign with its own SKU catalog, price range and
// currency.
type Campaign struct {
	ID       string
	Currency string // ISO-4217, e.g. "USD"; amounts are in its minor units
	SKUs     int    // catalog size
	MinPrice int64  // unit price range, minor units
	MaxPrice int64
	Weight   float64 // relative share of sessions
}

// DefaultCampaigns returns the built-in holiday set: Black Friday (USD),
// Cyber Monday (EUR), Singles' Day (CNY), Lunar New Year / Seollal (KRW, no
// minor digits) and Hatsuuri, the Japanese New Year sale (JPY, no minor
// digits).
func DefaultCampaigns() []Campaign {
	return []Campaign{
		{ID: "black-friday", Currency: "USD", SKUs: 4000, MinPrice: 499, MaxPrice: 149999, Weight: 0.30},
		{ID: "cyber-monday", Currency: "EUR", SKUs: 3000, MinPrice: 999, MaxPrice: 199999, Weight: 0.20},
		{ID: "singles-day", Currency: "CNY", SKUs: 5000, MinPrice: 990, MaxPrice: 99900, Weight: 0.25},
		{ID: "lunar-new-year", Currency: "KRW", SKUs: 2000, MinPrice: 1000, MaxPrice: 500000, Weight: 0.10},
		{ID: "hatsuuri", Currency: "JPY", SKUs: 2500, MinPrice: 500, MaxPrice: 50000, Weight: 0.15},
	}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("loadgen: %w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}

// withDefaults returns cfg with defaults filled in and validates it. The
// caller's Campaigns slice is copied, never modified.
func (cfg Config) withDefaults() (Config, error) {
	if math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0) || cfg.Rate < 0 {
		return cfg, invalid("Rate is %v, want a finite number ≥ 0", cfg.Rate)
	}
	if cfg.Duration < 0 {
		return cfg, invalid("Duration is %v, want ≥ 0", cfg.Duration)
	}
	if cfg.MaxRecords < 0 {
		return cfg, invalid("MaxRecords is %d, want ≥ 0", cfg.MaxRecords)
	}
	switch {
	case cfg.Users == 0:
		cfg.Users = DefaultUsers
	case cfg.Users < 0 || cfg.Users > MaxUsers:
		return cfg, invalid("Users is %d, want 1..%d", cfg.Users, MaxUsers)
	}
	switch {
	case cfg.RedeemShare == 0:
		cfg.RedeemShare = DefaultRedeemShare
	case math.IsNaN(cfg.RedeemShare) || cfg.RedeemShare < 0 || cfg.RedeemShare > 1:
		return cfg, invalid("RedeemShare is %v, want a fraction in (0, 1]", cfg.RedeemShare)
	}
	switch {
	case cfg.VIPShare == 0:
		cfg.VIPShare = DefaultVIPShare
	case math.IsNaN(cfg.VIPShare) || cfg.VIPShare < 0 || cfg.VIPShare > 1:
		return cfg, invalid("VIPShare is %v, want a fraction in (0, 1]", cfg.VIPShare)
	}
	switch cfg.Shape {
	case "":
		cfg.Shape = ShapeSteady
		if cfg.Duration > 0 {
			cfg.Shape = DefaultShape
		}
	case ShapeSteady:
	case ShapeRamp, ShapeSpike:
		if cfg.Duration == 0 && cfg.Rate > 0 {
			return cfg, invalid("Shape %q needs a Duration", cfg.Shape)
		}
	default:
		return cfg, invalid("Shape is %q, want %q, %q or %q", cfg.Shape, ShapeSteady, ShapeRamp, ShapeSpike)
	}
	switch {
	case cfg.MaxInFlight == 0:
		cfg.MaxInFlight = DefaultMaxInFlight
	case cfg.MaxInFlight < 0 || cfg.MaxInFlight > MaxMaxInFlight:
		return cfg, invalid("MaxInFlight is %d, want 1..%d", cfg.MaxInFlight, MaxMaxInFlight)
	}
	if len(cfg.Campaigns) == 0 {
		cfg.Campaigns = DefaultCampaigns()
	} else {
		cfg.Campaigns = append([]Campaign(nil), cfg.Campaigns...)
	}
	if err := validateCampaigns(cfg.Campaigns); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func validateCampaigns(cs []Campaign) error {
	seen := make(map[string]int, len(cs))
	var total float64
	for i, c := range cs {
		switch {
		case c.ID == "":
			return invalid("Campaigns[%d].ID is empty", i)
		case !schemas.ValidCurrency(c.Currency):
			return invalid("Campaigns[%d].Currency is %q, want an active ISO-4217 code such as \"USD\"", i, c.Currency)
		case c.SKUs < 1 || c.SKUs > MaxSKUs:
			return invalid("Campaigns[%d].SKUs is %d, want 1..%d", i, c.SKUs, MaxSKUs)
		case c.MinPrice < 1 || c.MinPrice > MaxPrice:
			return invalid("Campaigns[%d].MinPrice is %d, want 1..%d", i, c.MinPrice, MaxPrice)
		case c.MaxPrice < c.MinPrice || c.MaxPrice > MaxPrice:
			return invalid("Campaigns[%d].MaxPrice is %d, want %d..%d", i, c.MaxPrice, c.MinPrice, MaxPrice)
		case math.IsNaN(c.Weight) || math.IsInf(c.Weight, 0) || c.Weight < 0:
			return invalid("Campaigns[%d].Weight is %v, want a finite number ≥ 0", i, c.Weight)
		}
		if j, dup := seen[c.ID]; dup {
			return invalid("Campaigns[%d].ID %q repeats Campaigns[%d].ID", i, c.ID, j)
		}
		seen[c.ID] = i
		total += c.Weight
	}
	if total <= 0 {
		return invalid("Campaigns have no positive Weight")
	}
	return nil
}
