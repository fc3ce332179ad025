package schemas_test

import (
	"math"
	"testing"

	"github.com/surgeio/surge/schemas"
)

func TestFormatMoney(t *testing.T) {
	tests := []struct {
		minor    int64
		currency string
		want     string
	}{
		// exponent 2
		{191000287, "USD", "$1,910,002.87"},
		{0, "USD", "$0.00"},
		{5, "USD", "$0.05"},
		{100, "EUR", "€1.00"},
		{-1999, "EUR", "-€19.99"},
		{123456, "CNY", "CN¥1,234.56"},
		{99, "CHF", "CHF 0.99"},
		// exponent 0
		{44505250, "JPY", "¥44,505,250"},
		{130600, "KRW", "₩130,600"},
		{999, "KRW", "₩999"},
		{1000, "ISK", "ISK 1,000"},
		{-1000000, "JPY", "-¥1,000,000"},
		// exponent 3
		{1234567, "BHD", "BHD 1,234.567"},
		{5, "KWD", "KWD 0.005"},
		{1000, "OMR", "OMR 1.000"},
		{-1234567890, "TND", "-TND 1,234,567.890"},
		// exponent 4
		{12345, "CLF", "CLF 1.2345"},
		// no or unknown currency: minor units, grouped
		{1999, "", "1,999"},
		{1999000, "XXX", "1,999,000 XXX"},
		{math.MinInt64, "USD", "-$92,233,720,368,547,758.08"},
	}
	for _, tt := range tests {
		if got := schemas.FormatMoney(tt.minor, tt.currency); got != tt.want {
			t.Errorf("FormatMoney(%d, %q) = %q, want %q", tt.minor, tt.currency, got, tt.want)
		}
	}
}

func TestFormatMoneyFloat(t *testing.T) {
	tests := []struct {
		minor    float64
		currency string
		want     string
	}{
		{130600.56, "KRW", "₩130,601"},
		{130600.5, "JPY", "¥130,601"},
		{13060.49, "USD", "$130.60"},
		{1234.5, "BHD", "BHD 1.235"},
		{-0.4, "USD", "$0.00"},
		{0, "EUR", "€0.00"},
	}
	for _, tt := range tests {
		if got := schemas.FormatMoneyFloat(tt.minor, tt.currency); got != tt.want {
			t.Errorf("FormatMoneyFloat(%v, %q) = %q, want %q", tt.minor, tt.currency, got, tt.want)
		}
	}
}
