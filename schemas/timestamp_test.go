package schemas

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestParseTimestamp(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time // zero: must be refused
	}{
		{"2024-11-29T08:00:00Z", time.Date(2024, 11, 29, 8, 0, 0, 0, time.UTC)},
		{"2024-11-29t08:00:00z", time.Date(2024, 11, 29, 8, 0, 0, 0, time.UTC)},
		{"2024-11-29T08:00:00.1Z", time.Date(2024, 11, 29, 8, 0, 0, 100_000_000, time.UTC)},
		{"2024-11-29T08:00:00.123456789Z", time.Date(2024, 11, 29, 8, 0, 0, 123_456_789, time.UTC)},
		{"2024-11-29T08:00:00.1234567891234Z", time.Date(2024, 11, 29, 8, 0, 0, 123_456_789, time.UTC)},
		{"2024-11-29T09:30:00+01:30", time.Date(2024, 11, 29, 8, 0, 0, 0, time.UTC)},
		{"2024-11-29T03:00:00-05:00", time.Date(2024, 11, 29, 8, 0, 0, 0, time.UTC)},
		{"2024-11-29T08:00:00-00:00", time.Date(2024, 11, 29, 8, 0, 0, 0, time.UTC)},
		{"2024-12-31T23:59:59+23:59", time.Date(2024, 12, 31, 0, 0, 59, 0, time.UTC)},
		{"2024-02-29T00:00:00Z", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"2000-02-29T00:00:00Z", time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"2023-02-29T00:00:00Z", time.Time{}},
		{"2100-02-29T00:00:00Z", time.Time{}},
		{"2024-04-31T00:00:00Z", time.Time{}},
		{"2024-13-01T00:00:00Z", time.Time{}},
		{"2024-00-01T00:00:00Z", time.Time{}},
		{"2024-01-00T00:00:00Z", time.Time{}},
		{"2024-01-01T24:00:00Z", time.Time{}},
		{"2024-01-01T23:60:00Z", time.Time{}},
		{"2024-01-01T23:59:60Z", time.Time{}},
		{"2024-01-01T0:00:00Z", time.Time{}},
		{"2024-01-01T00:00:00", time.Time{}},
		{"2024-01-01 00:00:00Z", time.Time{}},
		{"2024-01-01T00:00:00.Z", time.Time{}},
		{"2024-01-01T00:00:00+0100", time.Time{}},
		{"2024-01-01T00:00:00+24:00", time.Time{}},
		{"2024-01-01T00:00:00+01:60", time.Time{}},
		{"2024-01-01T00:00:00ZZ", time.Time{}},
		{"+024-01-01T00:00:00Z", time.Time{}},
		{"2024-1-01T00:00:00Z", time.Time{}},
		{"2024-01-01", time.Time{}},
		{"", time.Time{}},
	}
	for _, tt := range tests {
		got, ok := parseTimestamp([]byte(tt.in))
		if ok != !tt.want.IsZero() || !got.Equal(tt.want) {
			t.Errorf("parseTimestamp(%q): got %v, %v; want %v, %v", tt.in, got, ok, tt.want, !tt.want.IsZero())
		}
		if ok && got.Location() != time.UTC {
			t.Errorf("parseTimestamp(%q): got location %v, want UTC", tt.in, got.Location())
		}
	}
}

func TestAppendTime(t *testing.T) {
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2024, 11, 29, 8, 0, 0, 0, time.UTC), `"2024-11-29T08:00:00.000Z"`},
		{time.Date(2024, 11, 29, 8, 0, 0, 999_999_999, time.UTC), `"2024-11-29T08:00:00.999Z"`},
		{time.Date(2024, 11, 29, 9, 30, 5, 7_000_000, time.FixedZone("", 5400)), `"2024-11-29T08:00:05.007Z"`},
		{time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), `"9999-12-31T23:59:59.000Z"`},
		{time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), `"2000-01-01T00:00:00.000Z"`},
	}
	for _, tt := range tests {
		if got := string(appendTime(nil, tt.in)); got != tt.want {
			t.Errorf("appendTime(%v): got %s, want %s", tt.in, got, tt.want)
		}
		if want := `"` + tt.in.UTC().Format("2006-01-02T15:04:05.000Z07:00") + `"`; want != tt.want {
			t.Errorf("test case %v: want %s disagrees with time.Format %s", tt.in, tt.want, want)
		}
	}
}

// TestAppendTimeMatchesFormat: the arithmetic formatter agrees with
// time.Format over years 0000..9999, in any location, at day, month and
// leap-year edges and at random instants.
func TestAppendTimeMatchesFormat(t *testing.T) {
	const layout = `"2006-01-02T15:04:05.000Z"`
	zones := []*time.Location{time.UTC, time.FixedZone("east", 13*3600+45*60), time.FixedZone("west", -11*3600)}
	check := func(tm time.Time) {
		if y := tm.UTC().Year(); y < 0 || y > 9999 {
			return // outside what validation lets through
		}
		got := string(appendTime(nil, tm))
		if want := tm.UTC().Format(layout); got != want {
			t.Fatalf("appendTime(%v): got %s, want %s", tm, got, want)
		}
	}
	for _, y := range []int{0, 1, 4, 99, 100, 400, 1582, 1899, 1900, 1969, 1970, 1999, 2000, 2024, 2100, 2400, 9999} {
		for _, m := range []time.Month{1, 2, 3, 12} {
			for _, d := range []int{1, 28, 29, 31} {
				for _, z := range zones {
					check(time.Date(y, m, d, 0, 0, 0, 0, z))
					check(time.Date(y, m, d, 23, 59, 59, 999_999_999, z))
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(7, 8))
	first := time.Date(0, 1, 2, 0, 0, 0, 0, time.UTC).Unix()
	last := time.Date(9999, 12, 30, 0, 0, 0, 0, time.UTC).Unix()
	for range 200_000 {
		tm := time.Unix(first+rng.Int64N(last-first), rng.Int64N(1e9)).In(zones[rng.IntN(len(zones))])
		check(tm)
	}
}
