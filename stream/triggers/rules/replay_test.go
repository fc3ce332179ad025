package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/surgeio/surge/schemas"
)

// replayInput is a seeded shopping workload for testdata/replay.yaml (20
// rules of every kind): sessions of 3,000 users over three channels, with
// VIP orders, two currencies, SKUs in and out of the filtered categories,
// and event times that sometimes step back (out of order, some late).
func replayInput(n int) (evs []Event, chs []int) {
	rng := rand.New(rand.NewPCG(7, 8))
	ts := t0
	skus := []string{"el-1", "el-2", "fa-1", "fa-2", "hm-1", "hm-2", "hm-3"}
	for i := range n {
		u := rng.IntN(3000)
		ev := Event{ID: fmt.Sprintf("e%07d", i), User: fmt.Sprintf("u-%d", u), TS: ts}
		ts += int64(rng.IntN(400))
		if rng.IntN(20) == 0 {
			ev.TS -= int64(rng.IntN(45_000)) // up to 45s back: lateness is 30s
		}
		switch c := rng.IntN(10); {
		case c < 8:
			ev.Campaign = "black-friday"
		case c == 8:
			ev.Campaign = "lunar-new-year"
		}
		ch := ChannelUserEvents
		switch k := rng.IntN(100); {
		case k < 50:
			ev.Type, ev.SKU = "page_view", skus[rng.IntN(len(skus))]
		case k < 62:
			ev.Type = "search"
		case k < 77:
			ev.Type, ev.SKU = "add_to_cart", skus[rng.IntN(len(skus))]
		case k < 82:
			ev.Type, ev.SKU = "remove_from_cart", skus[rng.IntN(len(skus))]
		case k < 88:
			ev.Type = "checkout_started"
		default:
			ev.Type, ch = "order", ChannelOrders
			ev.VIP = u%50 == 0
			if ev.VIP {
				ch = ChannelPriority
			}
			ev.Currency = "USD"
			if ev.Campaign == "lunar-new-year" {
				ev.Currency = "KRW"
			}
			for range 1 + rng.IntN(3) {
				it := schemas.Item{SKU: skus[rng.IntN(len(skus))], Qty: 1, UnitPrice: int64(500 + rng.IntN(40_000))}
				ev.Items = append(ev.Items, it)
				ev.Amount += it.UnitPrice
			}
		}
		evs, chs = append(evs, ev), append(chs, ch)
	}
	return evs, chs
}

// TestReplayGolden runs the workload through two partitions in batches,
// every third batch rolled back and replayed, with a clock tick after each
// batch, and compares a digest of every coupon and changelog record with
// testdata/replay.golden: what the engine issues and writes for a given
// input must not change unnoticed (UPDATE_GOLDEN=1 rewrites the file).
func TestReplayGolden(t *testing.T) {
	data, err := os.ReadFile("testdata/replay.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set, err := Parse("replay.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	evs, chs := replayInput(60_000)
	sum := sha256.New()
	coupons, records := 0, 0
	for part := range int32(2) {
		p := NewPartition(set, part, 2, 0)
		for b, off := 0, 0; off < len(evs); b, off = b+1, off+1500 {
			end := min(off+1500, len(evs))
			for attempt := range 1 + min(1, b%3/2) {
				p.Begin()
				var out []Issue
				for i := off; i < end; i++ {
					if u := evs[i].User; int32(u[len(u)-1])%2 == part {
						out, _ = p.Process(&evs[i], chs[i], out)
					}
				}
				out = p.Tick(t0+int64(b+1)*150_000, out)
				var changes []string
				p.Changes(func(k string, v Value) {
					if v == nil {
						changes = append(changes, k+"=nil")
					} else {
						changes = append(changes, k+"="+hex.EncodeToString(v.AppendTo(nil)))
					}
				})
				if attempt == 0 && b%3 == 2 {
					p.Rollback()
					continue
				}
				p.Commit()
				slices.Sort(changes) // the order of a batch's records is free
				for _, is := range out {
					fmt.Fprintf(sum, "%+v\n", is)
				}
				fmt.Fprintln(sum, strings.Join(changes, "\n"))
				coupons += len(out)
				records += len(changes)
			}
		}
		fmt.Fprintf(sum, "partition %d: %d users, %+v\n", part, p.Users(), p.Stats)
		t.Logf("partition %d: %d users, %+v", part, p.Users(), p.Stats)
	}
	got := fmt.Sprintf("coupons %d, changelog records %d, digest %x\n", coupons, records, sum.Sum(nil))
	golden := "testdata/replay.golden"
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		_ = os.WriteFile(golden, []byte(got), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("got %s want %s", got, want)
	}
}
