package analytics

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// ErrUnknownReport is returned (wrapped) by Report for a name that is not
// one of ReportNames; the message lists the valid names.
var ErrUnknownReport = errors.New("unknown report")

// ReportParams narrows a report. Zero values mean unbounded.
//
// Reports read from the per-minute rollups (campaign-summary,
// gmv-per-minute) keep the minutes that start in [From, To); reports read
// from raw tables (funnel, top-skus) keep the events whose time is in
// [From, To).
type ReportParams struct {
	Campaign string
	From, To time.Time
}

// ReportResult is a report's table. Cells are int64, uint64, float64,
// string or time.Time (UTC), so they marshal cleanly to JSON and text.
// Money cells hold integer (or, for averages, fractional) minor units of
// the currency named in another column of the row; Money says which.
type ReportResult struct {
	Name    string
	Columns []string
	Rows    [][]any
	// Money maps each money column to the column holding its currency.
	Money map[string]string
}

type report struct {
	name, desc string
	query      func(ReportParams) (sql string, args []any)
	// queryEnv, set instead of query, also needs to know about the
	// campaign_buyers table (report_buyers.go).
	queryEnv func(ReportParams, queryEnv) (sql string, args []any)
	// money maps each money column to its currency column.
	money map[string]string
	// rollup is set when the report reads only the per-minute rollups, so
	// it answers in milliseconds however many raw events there are.
	rollup bool
}

// ReportNames lists the named reports, in a stable order.
func ReportNames() []string {
	names := make([]string, len(reports))
	for i, r := range reports {
		names[i] = r.name
	}
	return names
}

// RollupReportNames lists the reports that read only the per-minute
// rollups (no raw table), in the order of ReportNames. Their cost does not
// grow with the raw events, so they are the ones a live page may poll.
func RollupReportNames() []string {
	var names []string
	for _, r := range reports {
		if r.rollup {
			names = append(names, r.name)
		}
	}
	return names
}

// DescribeReport returns a one-line description of the named report, or ""
// for an unknown name.
func DescribeReport(name string) string {
	if r, ok := findReport(name); ok {
		return r.desc
	}
	return ""
}

func findReport(name string) (report, bool) {
	for _, r := range reports {
		if r.name == name {
			return r, true
		}
	}
	return report{}, false
}

// Report runs the named report with p's filters bound as query parameters.
func (c *Conn) Report(ctx context.Context, name string, p ReportParams) (*ReportResult, error) {
	r, ok := findReport(name)
	if !ok {
		return nil, fmt.Errorf("%w %q: valid reports are %s", ErrUnknownReport, name, strings.Join(ReportNames(), ", "))
	}
	if !p.From.IsZero() && !p.To.IsZero() && !p.From.Before(p.To) {
		return nil, fmt.Errorf("report %s: from (%s) must be before to (%s)",
			name, p.From.Format(time.RFC3339), p.To.Format(time.RFC3339))
	}
	var (
		query string
		args  []any
	)
	var buyers map[pairKey]uint64 // counted over the kept part
	if r.queryEnv != nil {
		env, err := c.buyersEnv(ctx)
		if err != nil {
			return nil, fmt.Errorf("report %s: %w", name, err)
		}
		if c.kept.on && !env.cluster {
			b, ok, err := c.buyersInMemory(ctx, env, p)
			if err != nil {
				return nil, fmt.Errorf("report %s: %w", name, err)
			}
			buyers, env.kept = b, ok
		}
		query, args = r.queryEnv(p, env)
	} else {
		query, args = r.query(p)
	}
	res, err := c.QueryTable(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("report %s: %w", name, err)
	}
	if buyers != nil {
		if err := fillBuyers(res, buyers); err != nil {
			return nil, fmt.Errorf("report %s: %w", name, err)
		}
	}
	res.Name = name
	res.Money = r.money
	return res, nil
}

// QueryTable runs query with args bound and returns its columns and rows,
// with cells converted to the report cell types (int64, uint64, float64,
// string, time.Time in UTC).
func (c *Conn) QueryTable(ctx context.Context, query string, args ...any) (*ReportResult, error) {
	rows, err := c.db.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()

	types := rows.ColumnTypes()
	res := &ReportResult{Columns: rows.Columns(), Rows: [][]any{}}
	dest := make([]any, len(types))
	for rows.Next() {
		for i, t := range types {
			dest[i] = reflect.New(t.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		row := make([]any, len(dest))
		for i, d := range dest {
			row[i] = cell(reflect.ValueOf(d).Elem())
		}
		res.Rows = append(res.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// cell converts a scanned value to one of the report cell types.
func cell(v reflect.Value) any {
	if t, ok := v.Interface().(time.Time); ok {
		return t.UTC()
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint()
	case reflect.Float32, reflect.Float64:
		return v.Float()
	case reflect.String:
		return v.String()
	}
	return fmt.Sprint(v.Interface())
}
