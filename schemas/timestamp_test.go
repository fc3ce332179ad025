package schemas

import (
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
