package schemas

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits the rules enforce.
const (
	// MaxIDBytes is the longest id (event_id, order_id, user_id, session_id,
	// coupon_id, campaign_id, rule_id, trigger_event_id) or sku, in bytes.
	MaxIDBytes = 128
	// MaxItems is the most items one order may have.
	MaxItems = 1000
	// MaxClockSkew is how far in the future an event time may be.
	MaxClockSkew = 24 * time.Hour
)

// minEventTime is the earliest event time surge accepts: 2000-01-01T00:00:00Z.
var minEventTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// maxTime is the first instant RFC 3339 cannot write (year 10000).
var maxTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)

// nowFunc is the clock the "not in the future" rules read; tests replace it.
var nowFunc = time.Now

const maxInt64 = 1<<63 - 1

// mulInt64 multiplies two non-negative numbers, reporting overflow.
func mulInt64(a, b int64) (int64, bool) {
	if a != 0 && b > maxInt64/a {
		return 0, false
	}
	return a * b, true
}

// idProblem checks an id or sku: present if required, at most MaxIDBytes,
// valid UTF-8 without control characters.
func idProblem(s string, required bool) string {
	if s == "" {
		if required {
			return "missing"
		}
		return ""
	}
	if len(s) > MaxIDBytes {
		return "must be at most " + strconv.Itoa(MaxIDBytes) + " bytes, got " + strconv.Itoa(len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return "must not contain control characters"
		}
		if c >= utf8.RuneSelf {
			return unicodeIDProblem(s[i:])
		}
	}
	return ""
}

func unicodeIDProblem(s string) string {
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && n <= 1 {
			return "must be valid UTF-8"
		}
		if unicode.IsControl(r) {
			return "must not contain control characters"
		}
		s = s[n:]
	}
	return ""
}

func versionProblem(v int64) string {
	return fmt.Sprintf("unsupported schema version %d; this build reads 1..%d", v, CurrentVersion)
}

func positiveProblem(v int64) string {
	switch {
	case v < 0:
		return "must not be negative"
	case v == 0:
		return "must be greater than zero"
	}
	return ""
}

func currencyProblem(s string) string {
	switch {
	case s == "":
		return "missing"
	case ValidCurrency(s):
		return ""
	case ValidCurrency(strings.ToUpper(s)):
		return fmt.Sprintf("%s is not an ISO-4217 currency (codes are upper case: %s)", quote(s), strings.ToUpper(s))
	}
	return quote(s) + " is not an ISO-4217 currency"
}

func eventTimeProblem(t, now time.Time) string {
	switch {
	case t.IsZero():
		return "missing"
	case t.Before(minEventTime):
		return "must not be before 2000-01-01T00:00:00Z"
	case t.After(now.Add(MaxClockSkew)):
		return "must not be more than 24h in the future"
	}
	return ""
}

// quote quotes a value for an error message, cutting it at 64 bytes.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
