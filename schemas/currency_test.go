package schemas

import (
	"sort"
	"testing"
)

func TestCurrencyTable(t *testing.T) {
	if !sort.SliceIsSorted(currencies, func(i, j int) bool { return currencies[i].code < currencies[j].code }) {
		t.Error("currencies: not sorted by code")
	}
	seen := map[string]bool{}
	for _, c := range currencies {
		if seen[c.code] {
			t.Errorf("currency %s: listed twice", c.code)
		}
		seen[c.code] = true
		if _, ok := currencySlot(c.code); !ok {
			t.Errorf("currency %q: not three upper-case letters", c.code)
		}
		switch c.exp {
		case 0, 2, 3, 4:
		default:
			t.Errorf("currency %s: got exponent %d, want 0, 2, 3 or 4", c.code, c.exp)
		}
	}
	if n := len(currencies); n < 150 || n > 200 {
		t.Errorf("got %d currencies, want the full ISO 4217 list (150-200)", n)
	}
}

func TestCurrencyExponent(t *testing.T) {
	tests := []struct {
		code string
		exp  int
		ok   bool
	}{
		{"EUR", 2, true}, {"USD", 2, true}, {"GBP", 2, true}, {"CNY", 2, true},
		{"JPY", 0, true}, {"KRW", 0, true}, {"VND", 0, true}, {"ISK", 0, true},
		{"KWD", 3, true}, {"BHD", 3, true}, {"TND", 3, true},
		{"CLF", 4, true}, {"UYW", 4, true},
		{"AED", 2, true}, {"ZWG", 2, true}, {"XCG", 2, true}, {"SLE", 2, true}, {"VES", 2, true},
		{"XXX", 0, false}, {"XAU", 0, false}, {"XTS", 0, false}, {"XDR", 0, false},
		{"HRK", 0, false}, {"SLL", 0, false}, {"CUC", 0, false},
		{"eur", 0, false}, {"EU", 0, false}, {"EURO", 0, false}, {"", 0, false}, {"E1R", 0, false}, {"ÉUR", 0, false},
	}
	for _, tt := range tests {
		exp, ok := CurrencyExponent(tt.code)
		if exp != tt.exp || ok != tt.ok {
			t.Errorf("CurrencyExponent(%q): got %d, %v; want %d, %v", tt.code, exp, ok, tt.exp, tt.ok)
		}
		if got := ValidCurrency(tt.code); got != tt.ok {
			t.Errorf("ValidCurrency(%q): got %v, want %v", tt.code, got, tt.ok)
		}
	}
}
