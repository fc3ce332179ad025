package schemas

import "time"

// parseTimestamp parses an RFC 3339 date-time: "2006-01-02T15:04:05Z",
// with optional fractional seconds of any length (digits past nanoseconds
// are dropped) and a "Z" or ±hh:mm offset. "T" and "Z" may be lower case.
// Every field must have its full number of digits and be in range; leap
// seconds (":60") are refused. The result is in UTC.
func parseTimestamp(b []byte) (time.Time, bool) {
	if len(b) < len("2006-01-02T15:04:05Z") ||
		b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't') || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	min, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || min > 59 || sec > 59 {
		return time.Time{}, false
	}
	b = b[19:]
	nsec := 0
	if b[0] == '.' {
		i := 1
		for scale := 100_000_000; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			nsec += int(b[i]-'0') * scale
			scale /= 10
		}
		if i == 1 {
			return time.Time{}, false
		}
		b = b[i:]
	}
	offset := 0
	switch {
	case len(b) == 1 && (b[0] == 'Z' || b[0] == 'z'):
	case len(b) == 6 && (b[0] == '+' || b[0] == '-') && b[3] == ':':
		oh, ok1 := digits(b[1:3])
		om, ok2 := digits(b[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = (oh*60 + om) * 60
		if b[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, min, sec, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), true
}

// digits reads a fixed-width unsigned decimal number.
func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// appendTime appends t as a quoted RFC 3339 UTC timestamp with exactly three
// fractional digits. Validation keeps the year within 0000..9999.
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	hour, min, sec := t.Clock()
	ms := t.Nanosecond() / int(time.Millisecond)
	var buf [26]byte // "2006-01-02T15:04:05.000Z" plus quotes
	buf[0] = '"'
	put2(buf[1:], year/100)
	put2(buf[3:], year%100)
	buf[5] = '-'
	put2(buf[6:], int(month))
	buf[8] = '-'
	put2(buf[9:], day)
	buf[11] = 'T'
	put2(buf[12:], hour)
	buf[14] = ':'
	put2(buf[15:], min)
	buf[17] = ':'
	put2(buf[18:], sec)
	buf[20] = '.'
	buf[21] = byte('0' + ms/100)
	buf[22] = byte('0' + ms/10%10)
	buf[23] = byte('0' + ms%10)
	buf[24] = 'Z'
	buf[25] = '"'
	return append(b, buf[:]...)
}

func put2(b []byte, v int) {
	b[0] = byte('0' + v/10)
	b[1] = byte('0' + v%10)
}
