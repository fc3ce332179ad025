// Package loadgen is surge's holiday-peak traffic generator, behind
// `surge produce` and `surge up`. It simulates shoppers moving through a
// campaign's funnel and hands the resulting schemas records to a Sender; it
// does not talk to Kafka itself.
//
// # Population
//
// Config.Users users (default 10,000) with stable ids "u-000000",
// "u-000001", … (at least six digits). Exactly round(VIPShare*Users) of them
// (default 5%) are VIP, chosen by the seed. Activity is skewed: the user of
// each new session is drawn from a Zipf law over activity ranks,
// P(rank k) ∝ (20+k)^-1.2. A user never has two sessions open at once (one
// drawn again while busy is passed over), so with 10,000 users the most
// active 1% start about a quarter of the sessions rather than the law's 40%.
//
// # Sessions and the funnel
//
// Up to min(Users/8, 256) sessions are open at a time, and each record is
// the next step of one of them, picked at random, so many sessions
// interleave. A session shops in one campaign, drawn by Campaign.Weight, and
// walks the funnel, emitting one user event per step (normal / VIP
// probabilities):
//
//	page_view          the campaign's landing page, then product pages (with
//	                   a SKU); after each view another one (55% / 65%, at
//	                   most 8 views), else search (55% / 70%), else leave
//	search             then add_to_cart (45% / 60%), else leave
//	add_to_cart        a SKU drawn by popularity (Zipf over the catalog),
//	                   1–3 units (80% 1); then, with two or more lines,
//	                   remove_from_cart (12%); else another add_to_cart
//	                   (35% / 45%, at most 5 lines); else checkout_started
//	                   (50% / 70%); else leave
//	remove_from_cart   drops a random line; then checkout_started (50% / 70%),
//	                   else leave
//	checkout_started   then the order (70% / 88%), else leave
//	order              kind "order": the cart's 1–5 lines at the catalog's
//	                   unit prices, amount = Σ qty*unit_price in the
//	                   campaign's currency, priority "vip" for VIP users,
//	                   "urgent" for 4% of the others, else "normal"
//
// which converts about 8.6% of normal sessions and 26% of VIP sessions into
// an order. A session's events carry its session id; the order ends it. On
// average a session yields 3.6 records, and of all records about 92% are
// user events, 2.6% orders and 5% order statuses.
//
// After an order, its status changes follow later in the stream as kind
// "order_status": "paid" (92% / 97%) 20–420 records later, otherwise
// "cancelled" 50–1050 records later; a paid order is "shipped" (95% / 98%)
// 200–3200 records after the payment. Delays are counted in records, not
// wall time, so the sequence does not depend on timing. Statuses still
// pending when the run ends are never emitted.
//
// Coupons come from the triggers, not from the generator. Given a Wallet
// fed with the issued coupons, a shopper about to order who holds an
// unexpired coupon for the session's campaign redeems it with probability
// RedeemShare: a coupon_redeemed event, then the order carrying the
// coupon_id. Without a Wallet orders carry no coupon_id and the sequence is
// fixed by the seed.
//
// Every record is keyed by user id, and one user's records are generated in
// causal order: a session's events in funnel order, an order after its
// checkout_started, its payment or cancellation after it and its shipping
// after its payment. A Sender that keeps per-key order (Kafka with the user id
// as key) therefore delivers each user's history in order.
//
// # Campaigns
//
// Without Config.Campaigns the built-in holiday set is used (see
// DefaultCampaigns): black-friday (USD), cyber-monday (EUR), singles-day
// (CNY), lunar-new-year (KRW) and hatsuuri (JPY). Each has a catalog of SKUs
// "<campaign>-sku-00042" with unit prices drawn log-uniformly from
// [MinPrice, MaxPrice] minor units and rounded like shop prices (19.99 in
// currencies with minor units, ¥2,980 in those without).
//
// # Determinism and ids
//
// The same Seed gives the same sequence of records: ids, users, sessions,
// SKUs, quantities and amounts (timestamps are the wall clock at hand-off).
// Seed 0 picks a random seed, reported by Generator.Seed and Stats.Seed.
// Ids are counters under the seed, written like ULIDs so they fit wherever a
// schemas.NewEventID id does: the event id of the n-th record (from 0) is the
// 26-character Crockford base-32 form of the 128-bit number seed<<64 | n;
// order ids are "o-" and sessions "s-" followed by the same form of
// seed<<64 | (order or session counter). Ids are thus unique across runs
// with different seeds, and a run repeated with the same seed repeats its
// ids, which downstream deduplication then drops.
//
// # Rate and shapes
//
// Rate is the nominal rate in records/s; over a run of Duration D at
// elapsed time t the target is
//
//	steady  Rate
//	ramp    Rate * (0.1 + 0.9*t/D): from 10% to 100% of Rate, 0.55*Rate*D records in all
//	spike   10*Rate for 0.45*D ≤ t < 0.55*D, Rate otherwise: the midnight burst,
//	        1.9*Rate*D records in all
//
// Pacing uses a token bucket (golang.org/x/time/rate) whose burst is one
// batch: the generator reserves a batch of about 2 ms of traffic (1–256
// records) at a time and sleeps on a timer until it is due, so it holds its
// rate at hundreds of thousands of records per second without busy waiting.
// With Rate 0 it generates as fast as the sender takes records, bounded only
// by MaxInFlight; the shape is then ignored. Without a Duration the shape
// defaults to steady.
//
// # Backpressure and stats
//
// At most MaxInFlight records are handed to the sender and not yet done;
// when that many are outstanding the generator waits for a done. Memory is
// bounded by that number. Run returns only after every handed-out record is
// done. Stats count acked records only (apart from Records and Failed), so a
// report over the topics or ClickHouse can be checked against them exactly:
// records by kind and event type, and per campaign the orders, GMV, distinct
// buyers and coupon orders (always 0). Ack latency goes into a log-bucket
// histogram (16 buckets per power of two, values at most 6.25% high).
package loadgen
