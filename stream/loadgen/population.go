package loadgen

import (
	"math"
	"math/rand/v2"
	"sort"
	"strconv"

	"github.com/surgeio/surge/schemas"
)

// Activity skew: a user's chance to start the next session follows a Zipf
// law over activity ranks, P(rank k) ∝ (zipfV+k)^-zipfS. With 10,000 users
// the most active 1% start about 40% of sessions. SKU popularity within a
// catalog follows a steeper law.
const (
	zipfS    = 1.2
	zipfV    = 20
	skuZipfS = 1.1
	skuZipfV = 5
)

// population is the fixed set of users: stable ids, a VIP flag and an
// activity rank, all derived from the seed.
type population struct {
	n     int
	width int // digits of a user id

	// Activity rank k belongs to user (k*rankStride+rankOff) mod n; user u is
	// VIP when (u*vipStride+vipOff) mod n < vipCount. Both maps are
	// bijections, so exactly vipCount users are VIP.
	rankStride, rankOff uint64
	vipStride, vipOff   uint64
	vipCount            uint64

	zipf *rand.Zipf
	busy []uint64 // bit u set while user u has an open session
	ids  []string // ids made so far, for populations up to maxCachedIDs
}

// maxCachedIDs bounds the population whose user ids are kept once made.
const maxCachedIDs = 1 << 20

func newPopulation(rng *rand.Rand, n int, vipShare float64) *population {
	p := &population{
		n:        n,
		width:    userIDWidth(n),
		vipCount: uint64(math.Round(vipShare * float64(n))),
		zipf:     rand.NewZipf(rng, zipfS, zipfV, uint64(n-1)),
		busy:     make([]uint64, (n+63)/64),
	}
	if n <= maxCachedIDs {
		p.ids = make([]string, n)
	}
	p.rankStride, p.rankOff = coprimeStride(rng, n), rng.Uint64N(uint64(n))
	p.vipStride, p.vipOff = coprimeStride(rng, n), rng.Uint64N(uint64(n))
	return p
}

// coprimeStride is a random stride in [1, n) coprime to n (1 when n ≤ 2).
func coprimeStride(rng *rand.Rand, n int) uint64 {
	if n <= 2 {
		return 1
	}
	s := 1 + rng.Uint64N(uint64(n-1))
	for gcd(s, uint64(n)) != 1 {
		s = s%uint64(n-1) + 1
	}
	return s
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func (p *population) vip(u int) bool {
	return (uint64(u)*p.vipStride+p.vipOff)%uint64(p.n) < p.vipCount
}

func (p *population) id(u int) string {
	if p.ids == nil {
		return userID(u, p.width)
	}
	if p.ids[u] == "" {
		p.ids[u] = userID(u, p.width)
	}
	return p.ids[u]
}

func (p *population) isBusy(u int) bool { return p.busy[u>>6]&(1<<(u&63)) != 0 }
func (p *population) setBusy(u int)     { p.busy[u>>6] |= 1 << (u & 63) }
func (p *population) clearBusy(u int)   { p.busy[u>>6] &^= 1 << (u & 63) }

// pick draws the user of a new session by activity and marks it busy. A user
// with an open session is skipped, so one user's sessions never overlap.
// There is always a free user: fewer sessions are open than there are users.
func (p *population) pick(rng *rand.Rand) int {
	for range 8 {
		u := int((p.zipf.Uint64()*p.rankStride + p.rankOff) % uint64(p.n))
		if !p.isBusy(u) {
			p.setBusy(u)
			return u
		}
	}
	u := rng.IntN(p.n)
	for p.isBusy(u) {
		u = (u + 1) % p.n
	}
	p.setBusy(u)
	return u
}

// catalog is one campaign's SKUs with their unit prices.
type catalog struct {
	id       string
	currency string
	skus     []string
	prices   []int64
	popular  aliasTable // draws a SKU index by popularity (SKU k has rank k)
}

// newCatalogs builds the campaigns' catalogs. Prices come from their own
// random stream, so a catalog depends only on the seed and its Campaign.
func newCatalogs(seed uint64, cs []Campaign) []catalog {
	out := make([]catalog, len(cs))
	for i, c := range cs {
		prng := rand.New(rand.NewPCG(seed, 0x5ca1ab1e^uint64(i)))
		cat := catalog{
			id: c.ID, currency: c.Currency,
			skus:    make([]string, c.SKUs),
			prices:  make([]int64, c.SKUs),
			popular: newZipfTable(c.SKUs, skuZipfS, skuZipfV),
		}
		width := max(len(strconv.Itoa(c.SKUs-1)), 5)
		exp, _ := schemas.CurrencyExponent(c.Currency)
		for k := range c.SKUs {
			cat.skus[k] = skuID(c.ID, k, width)
			cat.prices[k] = price(prng, c.MinPrice, c.MaxPrice, exp)
		}
		out[i] = cat
	}
	return out
}

// skuID is "<campaign>-sku-<k>", k zero-padded to width digits.
func skuID(campaign string, k, width int) string {
	b := make([]byte, 0, len(campaign)+5+width)
	b = append(b, campaign...)
	b = append(b, "-sku-"...)
	digits := strconv.Itoa(k)
	for pad := width - len(digits); pad > 0; pad-- {
		b = append(b, '0')
	}
	return string(append(b, digits...))
}

// price draws a unit price in minor units log-uniformly from [lo, hi] and
// rounds it the way shops do: to x.99 in currencies with minor units (exp
// digits of them), to …80 (or a multiple of ten below 1000) in currencies
// without. A rounded price outside [lo, hi] is left unrounded.
func price(rng *rand.Rand, lo, hi int64, exp int) int64 {
	raw := int64(math.Round(math.Exp(math.Log(float64(lo)) + rng.Float64()*(math.Log(float64(hi))-math.Log(float64(lo))))))
	raw = min(max(raw, lo), hi)
	var p int64
	switch {
	case exp > 0:
		unit := int64(math.Pow10(exp))
		p = raw/unit*unit + unit - max(unit/100, 1)
	case raw >= 1000:
		p = raw/100*100 - 20
	default:
		p = raw / 10 * 10
	}
	if p < lo || p > hi {
		return raw
	}
	return p
}

// campaignPicker draws a campaign index by weight; a zero-weight campaign is
// never drawn.
type campaignPicker struct {
	cum  []float64 // running sums of the weights
	last int       // the last campaign with a positive weight
}

func newCampaignPicker(cs []Campaign) campaignPicker {
	p := campaignPicker{cum: make([]float64, len(cs))}
	var total float64
	for i, c := range cs {
		total += c.Weight
		p.cum[i] = total
		if c.Weight > 0 {
			p.last = i
		}
	}
	return p
}

func (p campaignPicker) pick(rng *rand.Rand) int {
	x := rng.Float64() * p.cum[len(p.cum)-1]
	i := sort.Search(len(p.cum), func(i int) bool { return p.cum[i] > x })
	return min(i, p.last)
}
