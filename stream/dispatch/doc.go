// Package dispatch delivers records from Kafka to a downstream service, one
// consumer group per service, at least once and in per-key (per-user)
// order, with per-key concurrency, order-preserving retries, dead letters,
// priority lanes and delayed delivery.
//
//	d, err := dispatch.New(
//		dispatch.WithClient(stream.ClientConfig{Brokers: brokers}),
//		dispatch.WithGroup("payment"),
//		dispatch.WithHandler(func(ctx context.Context, r dispatch.Record) error { ... }),
//	)
//	err = d.Run(ctx)
//
// Handlers: a Go function (WithHandler), a webhook (Webhook: POST of the
// event JSON; 2xx done, 408/429/5xx/timeouts retried, other statuses
// permanent), or a simulated service (Simulations, Fleet) for demos. A
// handler returns nil when done, an error to retry, or Permanent(err) to
// dead-letter the record at once.
//
// # Order and concurrency
//
// Within a partition, records of different keys run concurrently, up to
// WithMaxInFlight (per partition and in total); records of one key run one
// at a time, in offset order: each partition keeps a queue per key, and
// only a queue's head may run, wait or be parked. Across the two lanes
// there is no order (an order and its status changes share a lane, since
// statuses carry the order's priority; see stream.Topics.Route).
//
// # Commit only after done
//
// Each partition tracks the offsets fetched and not yet done (a bit set
// from the first one not done). The commit point is the first offset not
// done (or the next offset when all are done): everything below it is
// done. Records of other keys above it are often done too; the commit
// carries them in the partition's commit metadata (done offsets as
// run-length spans, kept under Kafka's 4 KiB default limit; see
// commitmeta.go), and a new owner skips them. So a crash redelivers only
// what was done since the last commit, plus the handler calls running at
// the crash, plus what did not fit in the metadata: duplicates, never a
// gap. Offsets are committed every WithCommitInterval (default 200 ms), on
// revoke and on shutdown; a partition counts as committed only when the
// broker acknowledged it.
//
// Rebalances use the cooperative-sticky balancer. On revoke, no new
// handler starts for the revoked partitions, running ones get up to
// WithRevokeTimeout to finish (then their context is cancelled and the new
// owner redelivers them), what is done is committed (with its metadata, so
// a graceful handover redelivers nothing done), and only then does the
// revoke return. Lost partitions are dropped without a commit.
//
// # How records flow
//
// One goroutine (the engine) owns all state; nothing else touches it. The
// poller hands it whole polls through a one-slot channel, so the next poll
// is fetched while the engine takes in the last one. Fetches are sized to
// about half a lane's buffer of records (from the compressed size per
// record seen so far; see fetchsize.go): the client fetches the next one
// while the lanes work through the last, instead of the lanes running dry
// each time a fetch of hundreds of thousands of records is drained. The
// records of a poll's partition become tasks allocated together; a key's
// queue is a list through its tasks, found by a hash of the key (no
// string per record), and a key with nothing queued costs a map insert
// and delete. Started tasks go to a pool of worker goroutines in
// one batch per engine turn, and results come back in batches too, so a
// record costs no goroutine, no channel operation and no lock of its own.
// The pool keeps as many workers busy as the handlers' latency calls for:
// one per running handler for slow ones (up to WithMaxInFlight), about one
// per CPU for handlers of microseconds, one fewer for handlers faster than
// the dispatcher's own work per record (see pool.go).
//
// # Retries: the retry topic and its ordering rule
//
// A record that fails in its source partition is parked: written to the
// group's retry topic RetryTopic(group, topic) ("<group>.retry.<topic>"),
// in the partition of the same number, keyed by user, with headers for its
// source topic/partition/offset, attempts so far, first and last failure,
// last error and the due time of its next attempt (exponential backoff with
// jitter, WithBackoff). Once the write is acked, the source offset counts
// as done and can be committed. The retry partition is read by whoever owns
// the source partition (a second, non-group client; its position is
// committed in the same group, in the same commit request), and its records
// go through the same per-key queues; a retry record that fails again is
// retried in memory with backoff, its retry offset uncommitted, until it
// succeeds or its budget (WithRetryBudget: attempts and age since the first
// failure) is spent; then it goes to the dead-letter topic
// (stream.NewDeadLetterRecord with reason, attempts, first/last failure,
// source coordinates and group) and its key proceeds.
//
// The ordering rule: while a key has records in the retry partition that
// are not done (written and not yet read back, or read and not done), every
// later source record of that key is parked behind them, without a handler
// call (attempts 0, no due time), so the retry partition holds the key's
// pending records in source order, and they run in that order. A key whose
// retry records are all done is no longer parked and its source records
// run directly.
//
// Across restarts and rebalances: on assignment of a source partition the
// dispatcher holds its records until it has read the retry partition from
// its committed offset to the end offset it had at assignment. The keys
// found there are parked, and for each such key the highest source offset
// among them is remembered: a source record of that key at or below it is
// skipped, because it is either among the parked records or was done
// before them (the key's records before a parked one were done or parked
// earlier). So a key's order holds across restarts, and no record is
// skipped that was not done.
//
// The attempt count of a record retried in memory goes into the retry
// partition's commit metadata at every commit: after a handover it goes on
// exactly, after a crash from the last commit (one commit interval
// behind); its age budget (the first-failure time, in its headers) is
// exact.
//
// A retry record is always written to the retry partition of its source
// partition's number, never elsewhere. When a source topic gains
// partitions while the group runs, the retry topic is grown to match when
// the new partitions are assigned.
//
// # Priority lanes
//
// Topics given as priority (default "orders-priority") form the priority
// lane, the others (default "orders") the normal lane; each lane's retry
// topics belong to it. Free handler slots go to the priority lane first,
// but while both lanes have records ready, at least 1 in WithNormalShare
// starts goes to the normal lane (the starvation bound). The normal lane's
// fetching is paused (kgo PauseFetchTopics) while the priority lane has
// records waiting for a slot and the normal lane holds enough records for
// its share.
//
// # Backpressure
//
// A lane holds at most about WithMaxBuffered records fetched and not done.
// When a lane is full the dispatcher stops polling instead of pausing the
// lane (kgo drops the buffered data of a paused topic, to fetch it again
// after the resume); it pauses a full lane only while the other lane has
// records to fetch, which it learns from fetches and, while a lane is
// full, from the end offsets it lists every commit interval. See
// backpressure.go.
//
// # Delayed delivery
//
// A record with a surge-not-before header (HeaderNotBefore, RFC 3339) is
// not dispatched before that time. It waits as its key's head in a timer
// heap (one timer for the earliest, no polling): other keys go on, later
// records of its key wait behind it, and it starts within a few
// milliseconds of its time. While it waits, its partition's commit point
// stays below it; what is done after it travels in the commit metadata,
// as far as it fits, so a restart redelivers little. It waits in memory:
// delays are meant for minutes, not days.
//
// # At least once, and what a handler must do
//
// Every record is handled at least once. It may be handled more than once:
// after a crash (what was done since the last commit, and the calls then
// running), after a revoke timeout, after a pause (below), and when a
// handler had its effect but failed (or timed out) before saying so. Record.EventID is unique per event: a handler should
// make its effect idempotent keyed by it (a unique constraint, a
// conditional write, the downstream API's Idempotency-Key, which Webhook
// sends). Dedup is a bounded in-memory window for in-process handlers that
// absorbs most redeliveries; it forgets across restarts.
//
// # A paused instance
//
// An instance paused (SIGSTOP, a VM or container freeze, a stall) or cut
// off from the group coordinator past its session timeout loses its
// partitions to another member, which starts at the last committed
// offsets. The extra deliveries:
//
//   - by the new owner: what the paused instance had done since its last
//     acknowledged commit (about one WithCommitInterval of its work; what
//     is done above the commit point travels in the commit metadata, as
//     far as it fits) and the calls it had running;
//   - by the paused instance after it resumes: only the handler calls it
//     had started before it stopped, at most WithMaxInFlight.
//
// The second bound is the membership lease (fence.go). No handler call
// starts, and no retry or dead letter is written, unless the group
// coordinator accepted a heartbeat of this member sent less than 0.8 ×
// min(session, rebalance timeout) ago (the client's own heartbeats are not
// visible, so the dispatcher sends its own every quarter of that). A
// member is removed, and its partitions given to others, no sooner than
// the session timeout after its last accepted heartbeat, so a call that
// starts under the lease starts while the partition is this member's. A
// resumed instance finds its lease lapsed: its calls wait (logged,
// surge_dispatch_lease_lapses_total) until the client learns that the
// partitions were lost, and their records are dropped for the new owner
// (surge_dispatch_stale_dropped_total), or until a heartbeat is accepted
// (the partitions are still its own) and they go on. Without the lease,
// the calls it started between resuming and its client's next heartbeat
// went through as well.
//
// Measured by TestPausedInstanceExtraDeliveries (two `surge dispatch`
// processes on the embedded broker, 400 records/s and a burst of 1,000
// before each pause, a 2 ms webhook, --max-in-flight 8, commits every
// 200 ms, session timeout 2 s, three SIGSTOPs of 6 s; about 16,000 records
// a run), 4 runs: no record lost; 0 deliveries by the paused instance
// after it resumed in all 12 pauses (1 in one pause of 15 in earlier runs:
// a call it had started; without the lease, 4 to 16 per pause in 4 runs,
// the calls it started between resuming and its client's next heartbeat,
// more than --max-in-flight in every run); 0 to 8
// held calls dropped per pause; 45 to 362 redeliveries by the new owner
// per pause, each of a record the paused instance had delivered at most
// 178 ms before it stopped (within the commit interval). Redeliveries grow
// with the time since the paused instance's last commit: a pause during a
// rebalance, when commits wait, can come seconds after it (one run in make
// test: 1,752 redeliveries of records delivered up to 8.5 s before the
// pause, still none lost and none by the paused instance).
//
// Limits. The lease needs the monotonic clock to run during the pause, as
// it does for a stopped process or a frozen container; on a virtual machine
// whose clock stops while it is suspended, the resumed instance stops
// calling when its client's next heartbeat reports the loss, as without the
// lease. A rebalance that waits for a member that stopped without leaving
// (up to its session timeout) holds the other members' new calls once
// their lease lapses, until it completes. The calls a paused instance had
// started still run on resume: the idempotency key above absorbs them, and
// the new owner's redeliveries.
//
// # Invalid records
//
// Before a handler sees a record, the worker decodes and checks it with
// schemas.Decode (the rules of the gateway and the sink), and hands the
// decoded event to the handler in Record.Event. A record that breaks a rule
// (not JSON, a missing field, a duplicate key, ...) is never handed over:
// it is dead-lettered at once, without retries, with the reason
// ("invalid record: invalid order: amount: ...") and its source topic,
// partition and offset, and counted (Stats.Invalid,
// surge_dispatch_invalid_total). WithoutValidation turns the check off for
// topics that do not carry surge events.
//
// # Dead letters and redrive
//
// ListDeadLetters reads the dead-letter topic for a group; Redrive replays
// selected dead letters once, to the group only (through its retry topic)
// or to the source topic, recording each replay in the compacted topic
// RedrivenTopic(group) so that a second redrive skips it.
//
// # Observability
//
// Metrics, labelled by group (WithRegisterer): surge_dispatch_processed_total,
// failed_total, retried_total, parked_behind_total, dead_lettered_total,
// invalid_total, skipped_total, normal_lane_paused_total, commits_total,
// stale_dropped_total, lease_lapses_total, in_flight, handler_seconds
// (histogram) and commit_lag_records. Logs carry the group
// and, for failures and dead letters, the event id, key and source
// coordinates.
package dispatch
