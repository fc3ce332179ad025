// Package rules is the coupon rule engine: the rules file format, its
// validation, and the per-partition evaluation that both the live triggers
// and backtests run.
//
// # File
//
//	lateness: 30s                 # allowed lateness (default 30s)
//	categories:
//	  electronics: ["bf-sku-00*"] # exact SKUs or prefixes ending in *
//	campaigns:
//	  - id: lunar-new-year
//	    timezone: Asia/Shanghai   # IANA zone; start/end are wall-clock times there
//	    start: 2027-02-06 00:00
//	    end: 2027-02-20 00:00
//	rules:
//	  - id: cart-3x
//	    campaign: lunar-new-year
//	    kind: count               # count | sum | absence | first
//	    events: [add_to_cart]
//	    count: 3
//	    within: 10m
//	    filter: {sku: [...], category: [...], vip: true, campaign_id: x}
//	    coupon: {value: 500, currency: CNY, expires: 48h}
//	    cap: 1                    # coupons per user per campaign; 0 = unlimited
//	    budget: {coupons: 10000, value: 5000000}
//	    enabled: true
//
// Parse reports every problem with its line and field path in one
// *ValidationError (wrapping ErrInvalid). A file over MaxFileBytes (1 MiB)
// is refused from its size before it is parsed, and YAML with more than
// one document is refused at the second "---" (the rules would otherwise
// silently be only the first document's).
//
// # Semantics
//
//   - count: fires when Count matching events lie within a span shorter than
//     Within (event time). The events that fired are consumed.
//   - sum: orders in the rule's currency; fires when their amounts within
//     Within (or over the whole campaign when Within is "campaign") reach
//     Threshold. The summed orders are consumed.
//   - absence: a matching event starts a timer of Within; an Absent event
//     at or before the deadline cancels it, also one read before the
//     event that starts the timer (from another input, or out of order);
//     the coupon is issued once the watermark is past the deadline.
//   - first: the user's first matching event in the campaign window.
//
// The triggering event must fall in the campaign window [start, end),
// computed in the campaign's zone, so DST changes are exact. vip filters
// match users known as VIP: an order of priority vip or urgent was seen.
// Per-user caps count the coupons of a rule per campaign; budgets are split
// over partitions (Share). Coupon ids are deterministic (CouponID).
//
// Lateness is per input channel: an event more than the allowed lateness
// older than the newest event of its own channel is late (Process); the
// watermark (timers, window trimming, eviction) follows the slowest live
// channel, and a channel is idle only when the caller says so (SetIdle).
// No decision reads the clock except the watermark of a partition whose
// channels are all idle (Tick), so a replay of the same input takes the
// same decisions.
package rules
