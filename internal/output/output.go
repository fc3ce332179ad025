// Package output prints command results as an aligned table, JSON or CSV.
package output

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/segmentio/encoding/json"
)

// Format is an output format name as given to --output.
type Format string

// The formats commands offer.
const (
	Table Format = "table"
	JSON  Format = "json"
	CSV   Format = "csv"
)

// Parse checks name against the formats a command allows.
func Parse(name string, allowed ...Format) (Format, error) {
	for _, f := range allowed {
		if string(f) == name {
			return f, nil
		}
	}
	names := make([]string, len(allowed))
	for i, f := range allowed {
		names[i] = string(f)
	}
	return "", fmt.Errorf("unknown output format %q: want one of %s", name, strings.Join(names, ", "))
}

// Rows writes columns and rows in format f. For JSON it writes an array of
// objects keyed by column name.
func Rows(w io.Writer, f Format, columns []string, rows [][]any) error {
	switch f {
	case JSON:
		return Value(w, Objects(columns, rows))
	case CSV:
		cw := csv.NewWriter(w)
		if err := cw.Write(columns); err != nil {
			return err
		}
		for _, r := range rows {
			rec := make([]string, len(r))
			for i, v := range r {
				rec[i] = Cell(v)
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	default:
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.ToUpper(strings.Join(columns, "\t")))
		for _, r := range rows {
			cells := make([]string, len(r))
			for i, v := range r {
				cells[i] = Cell(v)
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
		return tw.Flush()
	}
}

// Objects returns rows as the JSON form of Rows has them: one object per row
// keyed by column name, times as RFC 3339 strings in UTC.
func Objects(columns []string, rows [][]any) []map[string]any {
	objs := make([]map[string]any, len(rows))
	for i, r := range rows {
		m := make(map[string]any, len(columns))
		for j, c := range columns {
			if j < len(r) {
				m[c] = jsonValue(r[j])
			}
		}
		objs[i] = m
	}
	return objs
}

// Value writes v as indented JSON.
func Value(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Cell renders one value for a table or CSV cell.
func Cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	case float64:
		return strconv.FormatFloat(x, 'f', 2, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'f', 2, 64)
	case time.Duration:
		return x.String()
	}
	return fmt.Sprint(v)
}

func jsonValue(v any) any {
	if t, ok := v.(time.Time); ok {
		return t.UTC().Format(time.RFC3339)
	}
	return v
}
