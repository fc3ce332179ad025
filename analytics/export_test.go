package analytics

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// updateGolden makes tests rewrite their golden files under testdata/
// instead of comparing: go test ./analytics -run TestX -update
var updateGolden = flag.Bool("update", false, "rewrite golden files under testdata/")

// CheckGolden compares got with testdata/name, or rewrites that file when
// the -update flag is set. Exported for the external test package.
func CheckGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file (run with -update if the change is intended)\ngot:\n%s\nwant:\n%s",
			path, got, want)
	}
}

// BuyersWithHead counts campaign-summary's buyers per campaign and currency
// as if head were campaign_buyers' largest part.
func BuyersWithHead(ctx context.Context, c *Conn, p ReportParams, head string) (map[[2]string]uint64, error) {
	q, args := buyersQuery(p, queryEnv{head: head})
	res, err := c.QueryTable(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	out := map[[2]string]uint64{}
	for _, r := range res.Rows {
		out[[2]string{r[0].(string), r[1].(string)}] = r[2].(uint64)
	}
	return out, nil
}

// SetMaxKeptRows sets the largest campaign_buyers part a Conn keeps in
// memory (0: none, so buyers are counted in SQL) until the test ends.
func SetMaxKeptRows(t testing.TB, n uint64) {
	old := maxKeptRows
	maxKeptRows = n
	t.Cleanup(func() { maxKeptRows = old })
}

// SortedEventKeys sorts the batch's user events as Write sends them and
// returns each row's ORDER BY key, joined, in that order.
func (b *Batch) SortedEventKeys() []string {
	b.sortEvents()
	e := &b.events
	out := make([]string, len(e.offset))
	for i := range out {
		out[i] = e.campaignID[i] + "\x00" + e.typ[i] + "\x00" + e.ts[i].UTC().Format(time.DateTime) + "\x00" + e.userID[i]
	}
	return out
}
