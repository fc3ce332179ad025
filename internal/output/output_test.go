package output

import (
	"bytes"
	"testing"
	"time"
)

func TestRows(t *testing.T) {
	cols := []string{"campaign", "orders", "gmv", "at"}
	rows := [][]any{{"black-friday", int64(3), 12.5, time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)}, {"x,\"y", uint64(0), 0.0, time.Time{}}}
	tests := []struct {
		f    Format
		want string
	}{
		{Table, "CAMPAIGN      ORDERS  GMV    AT\nblack-friday  3       12.50  2026-11-27T00:00:00Z\nx,\"y          0       0.00   0001-01-01T00:00:00Z\n"},
		{CSV, "campaign,orders,gmv,at\nblack-friday,3,12.50,2026-11-27T00:00:00Z\n\"x,\"\"y\",0,0.00,0001-01-01T00:00:00Z\n"},
		{JSON, "[\n  {\n    \"at\": \"2026-11-27T00:00:00Z\",\n    \"campaign\": \"black-friday\",\n    \"gmv\": 12.5,\n    \"orders\": 3\n  },\n  {\n    \"at\": \"0001-01-01T00:00:00Z\",\n    \"campaign\": \"x,\\\"y\",\n    \"gmv\": 0,\n    \"orders\": 0\n  }\n]\n"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		if err := Rows(&buf, tt.f, cols, rows); err != nil {
			t.Fatalf("%s: %v", tt.f, err)
		}
		if got := buf.String(); got != tt.want {
			t.Errorf("%s: got\n%q\nwant\n%q", tt.f, got, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	if f, err := Parse("json", Table, JSON); err != nil || f != JSON {
		t.Errorf("Parse(json) = %v, %v; want json, nil", f, err)
	}
	if _, err := Parse("yaml", Table, JSON); err == nil || err.Error() != `unknown output format "yaml": want one of table, json` {
		t.Errorf("Parse(yaml) error = %v; want unknown output format", err)
	}
}
