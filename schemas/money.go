package schemas

import (
	"math"
	"strconv"
	"strings"
)

// currencySymbols are the symbols FormatMoney writes before an amount for
// the currencies shoppers know by sign; every other currency is written as
// its code and a space ("BHD 1,234.567"). CNY takes "CN¥" so that it is not
// read as yen.
var currencySymbols = map[string]string{
	"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "KRW": "₩", "CNY": "CN¥",
	"INR": "₹", "ILS": "₪", "VND": "₫", "NGN": "₦", "PHP": "₱", "UAH": "₴",
}

// CurrencySymbol returns the sign FormatMoney writes for code: "$" for USD,
// or the code and a space ("BHD ") for a currency without a well-known sign.
func CurrencySymbol(code string) string {
	if s, ok := currencySymbols[code]; ok {
		return s
	}
	return code + " "
}

// FormatMoney writes an amount in minor units for people: in major units
// with the currency's own number of minor digits (ISO 4217 exponent),
// thousands grouped with commas and the currency's sign in front:
// 191000287 USD is "$1,910,002.87", 44505250 JPY is "¥44,505,250", 1234567
// BHD is "BHD 1,234.567", -1999 EUR is "-€19.99". An unknown currency (or
// none) is written as the grouped minor units followed by its code, since
// its exponent is unknown: "1,999 XXX".
func FormatMoney(minor int64, currency string) string {
	exp, ok := CurrencyExponent(currency)
	if !ok {
		return strings.TrimSpace(group(uabs(minor), minor < 0) + " " + currency)
	}
	u := uabs(minor)
	pow := uint64(math.Pow10(exp))
	s := group(u/pow, false)
	if exp > 0 {
		frac := strconv.FormatUint(u%pow, 10)
		s += "." + strings.Repeat("0", exp-len(frac)) + frac
	}
	sign := ""
	if minor < 0 {
		sign = "-"
	}
	return sign + CurrencySymbol(currency) + s
}

// FormatMoneyFloat is FormatMoney for a fractional number of minor units,
// such as an average order value: it is rounded (half away from zero) to
// whole minor units first, so an average of 130600.56 KRW is "₩130,601".
func FormatMoneyFloat(minor float64, currency string) string {
	if math.IsNaN(minor) || math.IsInf(minor, 0) {
		return strconv.FormatFloat(minor, 'f', -1, 64)
	}
	return FormatMoney(int64(math.Round(minor)), currency)
}

func uabs(n int64) uint64 {
	if n < 0 {
		return uint64(-(n + 1)) + 1 // MinInt64 has no positive int64
	}
	return uint64(n)
}

// group writes n with a comma every three digits, and a minus sign if neg.
func group(n uint64, neg bool) string {
	d := strconv.FormatUint(n, 10)
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range d {
		if i > 0 && (len(d)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
