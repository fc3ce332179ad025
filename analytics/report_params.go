package analytics

import (
	"errors"
	"fmt"
	"time"
)

// ErrBadParam is wrapped by ParseReportParams' errors.
var ErrBadParam = errors.New("bad report parameter")

// MaxCampaignLen bounds a campaign filter; campaign ids are short names.
const MaxCampaignLen = 200

// ParseReportParams reads report filters as people give them (the --campaign,
// --from and --to flags of surge report, the same query parameters of the
// page's API): from and to are RFC 3339 times or durations before now ("2h");
// empty means unbounded. The campaign is kept as a value, bound into the
// query, never spliced into SQL.
func ParseReportParams(campaign, from, to string, now time.Time) (ReportParams, error) {
	p := ReportParams{Campaign: campaign}
	if len(campaign) > MaxCampaignLen {
		return p, fmt.Errorf("%w: campaign: longer than %d bytes", ErrBadParam, MaxCampaignLen)
	}
	var err error
	if p.From, err = ParseWhen(from, now); err != nil {
		return p, fmt.Errorf("%w: from: %v", ErrBadParam, err)
	}
	if p.To, err = ParseWhen(to, now); err != nil {
		return p, fmt.Errorf("%w: to: %v", ErrBadParam, err)
	}
	if !p.From.IsZero() && !p.To.IsZero() && !p.From.Before(p.To) {
		return p, fmt.Errorf("%w: from %s is not before to %s", ErrBadParam, p.From.Format(time.RFC3339), p.To.Format(time.RFC3339))
	}
	return p, nil
}

// parseWhen reads an RFC 3339 time or a duration before now; empty is zero.
func ParseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-11-27T00:00:00Z) nor a duration ago (90m)", s)
}
