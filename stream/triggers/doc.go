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
// memory too (the rules engine keeps an encoded copy of every user it
// touched in the transaction as it was before, and the partition's meta),
// and the session rewinds to the committed offsets, so the input is
// evaluated again from the same state. A rebalance during a transaction
// ends it at once (it cannot commit), and a partition assigned while one is
// open is tracked from its first change, so its changes are undone too. After a kill -9 the open
// transaction is aborted (by the restarted instance fencing its
// transactional id, or by the transaction timeout); the next owner of the
// partitions restores the state from the changelog and resumes at the
// committed offsets: the state and the offsets always match, so every
// coupon is issued once. Restoring waits until the changelog has no open
// transaction (last stable offset = high watermark) and reads it with
// read_committed to its end.
//
// A paused instance (SIGSTOP, a frozen VM) that resumes after the group
// gave its partitions to another instance is fenced the same way: its
// transaction's offset commit carries its generation and the coordinator
// refuses it, so the transaction aborts. A transaction that consumed nothing
// (only absence-timer coupons) has no offsets of its own; before committing
// one, the Runner commits the group's committed offsets again, outside the
// transaction, which the coordinator also accepts only from a current member
// (Runner.fence). The window left: a pause longer than the session timeout
// that falls after the coordinator accepted that commit and before EndTxn
// reaches the broker; closing it needs the broker to check the group
// generation at EndTxn, which Kafka does not do.
//
// An instance keeps the rule state (and so the absence timers) of the
// partitions it owns now, and of no others: every rebalance (eager, range)
// drops the state of the partitions the new assignment does not include,
// also when the transaction session did not report their revoke (it
// reports one revoke per transaction; an empty transaction is ended too,
// so a later revoke is reported). An absence rule's coupon is thus issued
// by one instance only, also when an instance is paused past its session
// timeout while input arrives: TestExactlyOnceUnderPause SIGSTOPs one of
// two instances for three times its session timeout, three times, and
// checks that every coupon readable with read_committed is issued exactly
// once.
//
// Second line of defence: coupon ids are deterministic, a hash of
// (campaign, rule, user, n, trigger) where n counts the user's coupons from
// the rule and trigger is the triggering event's id (or the absence
// timer), and the coupon record's event id derives from it. A replay of the same
// input produces byte-identical coupons, so a consumer that ever saw a
// duplicate (a read_uncommitted reader) can drop it by coupon id.
//
// Copies of an event (a producer's retry, a re-send: same event id) are
// applied once: each user's state keeps the 64-bit hashes of the events that
// changed it while a copy would not be late (event time at or after the
// partition's watermark), in its changelog record, so a copy read in the
// same batch, after a restart or after a rebalance never advances a rule
// twice nor earns a second coupon; later copies are late anyway. They count
// in Stats.Duplicates and surge_triggers_duplicate_events_total. Each input
// record's key and partition are checked (see keycheck.go): a record not
// keyed by its user_id, or off murmur2's partition, is evaluated against the
// state of the partition it is in, and counted.
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
// After the inputs are resized (surge topics resize), the budget stays
// split over the partition count it was split over: the count before the
// inputs' first resize on record in the control topic, or
// WithBudgetPartitions. Partitions the resize added get no share
// (rules.Share), so a resize can never let a budget be spent twice; the
// price is that shoppers whose keys moved to the added partitions get no
// budgeted coupons. When the resize happens before any budgeted coupon was
// issued, restart the triggers with WithBudgetPartitions (surge triggers
// --budget-partitions) set to the new count to split it over all of them.
//
// # Event time, lateness and idle inputs
//
// Windows run on event time. Each partition merges three channels (orders,
// priority orders, user events: one Kafka partition each). Every decision
// is a function of the events each channel delivers, in its own order,
// never of when the consumer happens to read them:
//
//   - An event is late when it is more than the rules file's allowed
//     lateness older than the newest event its own channel delivered
//     before it. That depends only on the channel's Kafka order, so every
//     run over the same input, interrupted or not, and however the
//     consumer interleaves the topics, rejects the same events. Late events
//     are not applied; they are counted (surge_triggers_late_events_total)
//     and written to the dead-letter topic with reason "late: ...", never
//     dropped silently.
//   - The partition's watermark, which fires absence timers, trims windows
//     and evicts users, is the slowest live channel's newest event time
//     minus the lateness. A timer fires once the watermark is past its
//     deadline: any event that could still cancel it is then late on its
//     own channel, so the decision is the same in every run.
//   - A channel stops holding the watermark back only when it is idle: read
//     to its end (the consumer's position reached the partition's last
//     stable offset, checked with ListOffsets) and quiet for the idle
//     timeout. A channel that delivers nothing because the consumer is
//     behind or stalled (a long transaction, a restore after a kill, a
//     rebalance, a slow machine) is not at its end and keeps holding the
//     watermark: its backlog is never taken for late events. A restored
//     partition starts with every channel live.
//   - When every channel of a partition is idle the watermark follows the
//     processing clock from the newest event time (minus the lateness) on,
//     so absence timers still fire on a quiet partition. This is the one
//     place where the clock matters.
//   - An event older than the watermark is late too. That can only happen
//     on a channel that was idle and comes back with events older than
//     what the other channels (or the clock) moved the watermark to.
//
// Hence the exactness condition: the coupons of any run, with any kills,
// restarts and rebalances, equal those of an uninterrupted run over the
// same input when (1) no input partition that went idle (read to its end
// and quiet for the idle timeout) comes back with events older than the
// watermark, and (2) no rule's outcome depends on the relative order of
// events from different input topics. (1) holds when each input keeps
// receiving records more often than the idle timeout until its end, or
// comes back with current event times; (2) holds for rules whose events
// all come from one topic, and for absence rules whose cancelling events
// come from another topic (a cancelling event read before the one that
// starts the timer is remembered). It does not hold for a "vip" filter on
// user events (the VIP flag comes from an order) or for a sum over normal
// and priority orders of one user close together: those are still issued
// once per (user, rule), but which event triggers them may differ between
// runs. The kill -9 test's input meets (1) and (2) while the kills land at
// random points (TestExactlyOnceUnderKill9); TestStallDoesNotMakeBacklogLate
// covers the stalled consumer.
//
// Input records are read by a fast path that applies schemas.Decode's
// checks to records in the form schemas.Encode writes and falls back to
// schemas.Decode for any other, so which records are invalid (counted, left
// to the sink's dead letters) never depends on the path; its "not more
// than 24h in the future" check reads the clock, as schemas.Decode does.
//
// # Latency and throughput
//
// By default the loop commits after each poll: a coupon is readable about
// one transaction round trip (produce, offset commit, heartbeat, end)
// after its event was fetched, and under load polls, hence transactions,
// grow on their own (up to WithMaxPollRecords, 200,000 records).
// WithCommitInterval keeps a transaction open across polls for a while:
// fewer, larger transactions, and a user changed several times in the
// interval is written once, for up to the interval more latency. The
// partitions of a poll are evaluated in parallel (a goroutine per core);
// decoding, undo copies and changelog encoding allocate nothing per event
// in the steady state. See bench/ for measured figures.
//
// # Memory
//
// State per active user is small (about 400 bytes on the heap for a user
// with a count window entry and a campaign sum, measured by
// rules.TestMemoryPerActiveUser) and holds no pointers but the user's id
// and its list of rule states: rule ids are interned per partition and
// window entries live in large chunks the garbage collector does not scan,
// so a million users cost little garbage collection; the state of a
// dropped user is reused for the next new one. Window entries older than
// the watermark minus the window are trimmed; a user's state is evicted
// (and tombstoned in the changelog) once the watermark passes its expiry:
// the end of its last window, or the campaign end for campaign-scoped
// progress (first-time flags, campaign sums, per-user caps). The window
// chunks are kept for the partition's life and reused.
//
// # Reloading rules
//
// ReloadFile and WatchFile (SIGHUP and modification time) validate a new
// file and switch to it between batches; a file that does not validate is
// rejected and the running rules stay. State is keyed by rule id, so a rule
// keeps its users' progress, caps and budget spend across a reload.
package triggers
