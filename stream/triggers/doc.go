// Package triggers issues campaign coupons from surge's event stream within
// milliseconds of the event that earns them, exactly once. The rules and
// the per-user evaluation live in the rules sub-package, which the live
// Runner and Backtest share.
//
// # Exactly once: Kafka transactions
//
// A Runner is a consumer group over orders, orders-priority and user-events
// (read_committed) built on kgo's GroupTransactSession. Each loop iteration
// polls what is buffered, evaluates it, and writes in one transaction:
//
//   - the coupons (topic coupons, keyed by user id),
//   - the changed per-user state (compacted topic "<group>.state", keyed by
//     user id, written to the partition number of the input it belongs to;
//     a nil value deletes an evicted user), plus one "\x00meta" record per
//     partition holding its watermark and its budget spend,
//   - dead letters for late events,
//   - and the consumed offsets (TxnOffsetCommit).
//
// Either all of that becomes visible to read_committed consumers or none of
// it does. A transaction aborted by a rebalance or a failure is undone in
// memory too (the rules engine keeps an undo copy of every user it touched
// in the batch), and the session rewinds to the committed offsets, so the
// batch is evaluated again from the same state. After a kill -9 the open
// transaction is aborted (by the restarted instance fencing its
// transactional id, or by the transaction timeout); the next owner of the
// partitions restores the state from the changelog and resumes at the
// committed offsets: the state and the offsets always match, so every
// coupon is issued once. Restoring waits until the changelog has no open
// transaction (last stable offset = high watermark) and reads it with
// read_committed to its end.
//
// Second line of defence: coupon ids are deterministic, a hash of
// (campaign, rule, user, n) where n counts the user's coupons from the rule,
// and the coupon record's event id derives from it. A replay of the same
// input produces byte-identical coupons, so a consumer that ever saw a
// duplicate (a read_uncommitted reader) can drop it by coupon id.
//
// Co-partitioning: the group uses range assignment, which hands every member
// the same partition numbers of each input topic. All inputs must have the
// same partition count (checked at start, ErrTopology): a user's orders and
// events then meet in one instance, and its state in one changelog
// partition.
//
// # Budgets
//
// A campaign budget (total coupons and/or total value) is global, so it
// needs a single owner per unit of budget. The budget is pre-split over the
// N input partitions: partition p may spend Share(total, p, N) (the shares
// add up to exactly the total), and each partition's spend is in its meta
// record, committed in the same transaction as the coupons. A partition has
// exactly one owner at a time (the group protocol plus transactional
// fencing), so no instance can overspend its partitions' shares, and the
// total can never exceed the budget, whatever the number of instances and
// rebalances. The price: with skewed traffic one partition may exhaust its
// share while others still have some, so a budget can end slightly
// under-spent (at most the unspent shares). Moving unused shares between
// partitions would need a transactional hand-over through a budget topic
// and is not built; Backtest shows the refusals per run, and sizing the
// budget with the backtest is the workaround.
//
// # Event time, lateness and idle inputs
//
// Windows run on event time. Each partition merges three channels (orders,
// priority orders, user events); each channel's progress is its newest event
// time, and the partition's watermark is the slowest active channel's
// progress minus the rules file's allowed lateness. A channel that has sent
// nothing for the idle timeout stops holding the watermark back; when every
// channel is idle the watermark follows the wall clock from the last record,
// so absence timers still fire on a quiet partition. Events older than the
// watermark are late: they are not applied, they are counted
// (surge_triggers_late_events_total) and written to the dead-letter topic
// with reason "late: ...", never dropped silently.
//
// # Latency
//
// There is no fixed commit interval: the loop commits after each poll, so
// a coupon is readable about one transaction round trip (produce, offset
// commit, heartbeat, end) after its event was fetched; under load batches
// grow on their own. See bench/ for measured figures.
//
// # Memory
//
// State per active user is small (about 560 bytes on the heap for a user
// with a count window entry and a campaign sum, measured by
// rules.TestMemoryPerActiveUser). Window entries older than the watermark
// minus the window are trimmed; a user's state is evicted (and tombstoned
// in the changelog) once the watermark passes its expiry: the end of its
// last window, or the campaign end for campaign-scoped progress (first-time
// flags, campaign sums, per-user caps).
//
// # Reloading rules
//
// ReloadFile and WatchFile (SIGHUP and modification time) validate a new
// file and switch to it between batches; a file that does not validate is
// rejected and the running rules stay. State is keyed by rule id, so a rule
// keeps its users' progress, caps and budget spend across a reload.
package triggers
