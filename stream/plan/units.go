package plan

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// parseCount reads a record count such as "20000", "20k", "1.5M" or "2G".
func parseCount(s string) (float64, error) {
	s = strings.TrimSpace(s)
	mult := 1.0
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k', 'K':
			mult, s = 1e3, s[:n-1]
		case 'm', 'M':
			mult, s = 1e6, s[:n-1]
		case 'g', 'G':
			mult, s = 1e9, s[:n-1]
		}
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a number (e.g. 20000, 20k, 1.5M)", s)
	}
	return v * mult, nil
}

// byteUnits maps size suffixes to their multipliers, longest first so
// that "KiB" is tried before "B".
var byteUnits = []struct {
	suffix string
	mult   float64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9},
	{"kB", 1e3}, {"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9},
	{"K", 1e3}, {"M", 1e6}, {"G", 1e9},
	{"B", 1}, {"b", 1},
}

// parseBytes reads a size such as "450", "450B", "2KB", "1.5KiB" or "40MB".
// KB, MB and GB are powers of 1000; KiB, MiB and GiB powers of 1024.
func parseBytes(s string) (float64, error) {
	s = strings.TrimSpace(s)
	mult := 1.0
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			mult, s = u.mult, strings.TrimSuffix(s, u.suffix)
			break
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a size (e.g. 450B, 2KB, 1.5KiB, 40MB)", s)
	}
	return v * mult, nil
}

// perSecond strips a trailing "/s" and reports whether it was there.
func perSecond(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if t, ok := strings.CutSuffix(s, "/s"); ok {
		return t, true
	}
	return s, false
}

// fmtRate renders a rate in records/s for the arithmetic text: whole
// numbers from 100 up, one decimal below.
func fmtRate(v float64) string {
	if v >= 100 || v == math.Trunc(v) {
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// fmtBytes renders a byte count (or byte rate, without "/s") in MB, KB or
// B, powers of 1000.
func fmtBytes(v float64) string {
	switch {
	case v >= 1e9:
		return strconv.FormatFloat(v/1e9, 'f', 2, 64) + " GB"
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + " MB"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + " KB"
	}
	return strconv.FormatFloat(math.Round(v), 'f', -1, 64) + " B"
}

// fmtRatio renders an exact quotient before rounding.
func fmtRatio(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

// ceil rounds up, forgiving float noise (4.0000000001 stays 4).
func ceil(v float64) int64 {
	return int64(math.Ceil(v - 1e-9))
}
