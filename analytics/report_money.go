package analytics

import "github.com/surgeio/surge/schemas"

// DisplayRows returns the rows for people: money cells in major units with
// their currency's sign, exponent and thousands grouping
// (schemas.FormatMoney: "$1,910,002.87", "¥44,505,250"), every other cell
// as it is. The rows of r are not changed; JSON and CSV output keep them,
// integer minor units next to the currency.
func (r *ReportResult) DisplayRows() [][]any {
	if len(r.Money) == 0 {
		return r.Rows
	}
	type pair struct{ money, currency int }
	var pairs []pair
	for i, c := range r.Columns {
		if cur, ok := r.Money[c]; ok {
			for j, c2 := range r.Columns {
				if c2 == cur {
					pairs = append(pairs, pair{i, j})
				}
			}
		}
	}
	out := make([][]any, len(r.Rows))
	for i, row := range r.Rows {
		nr := append([]any(nil), row...)
		for _, p := range pairs {
			if p.money >= len(row) || p.currency >= len(row) {
				continue
			}
			cur, _ := row[p.currency].(string)
			switch v := row[p.money].(type) {
			case int64:
				nr[p.money] = schemas.FormatMoney(v, cur)
			case uint64:
				nr[p.money] = schemas.FormatMoney(int64(v), cur)
			case float64:
				nr[p.money] = schemas.FormatMoneyFloat(v, cur)
			}
		}
		out[i] = nr
	}
	return out
}
