// Package sink streams surge's topics (orders, user events, coupons) into
// ClickHouse raw tables, exactly once.
//
// # Guarantee
//
// Every record of a consumed topic ends up in ClickHouse exactly once: either as
// one row of its table (orders, order_status, user_events, coupons) or, when it
// fails validation, as one row of sink_rejects plus a record on the dead-letter
// topic, or, when it is a copy of an event already stored, as one row of
// sink_duplicates (see "Each event counted once"). This holds across kill -9
// of the sink at any moment, consumer-group rebalances between sink
// instances, and ClickHouse restarts, on ClickHouse 18.16 and later (it needs
// neither insert_deduplication_token nor replicated block deduplication).
// Hence, exactly: records in Kafka = rows of the raw tables + rows of
// sink_rejects + rows of sink_duplicates.
//
// # Each event counted once
//
// An event_id is stored once in the raw tables, so counted once in the
// rollups and every report, for every copy of it that reaches the sink within
// the dedup window (WithDedupWindow, DefaultDedupWindow 24h) after the
// original was stored. A copy is a record with the same kind and event_id on
// the same topic: a producer's or the gateway's retry under any API key, a
// batch retried without an Idempotency-Key, a duplicate inside one batch, a
// re-send by any Kafka client, a restart of producers or sinks (kill -9
// included), a rebalance, a partition resize. The copy becomes a row of
// sink_duplicates naming where it was (kafka_*) and where its original is
// (original_*), and counts in surge_sink_duplicates_total{topic}.
//
// Decisions are made per batch by the flusher, in offset order, against
// claims: a row of sink_dedup_claims (scope_key, the topic's 32-bit id and
// the scope in one number; event_hash and event_hash2, two unrelated 64-bit
// xxhashes of the event's kind and id; the original's partition and
// offset) written for every original of the batch in an INSERT sent on a
// connection of its own alongside the batch's rows (the server takes both
// at once), sorted by the table's ORDER BY so that ClickHouse need not sort
// them (no string at all: a claim is 40 bytes of numbers, a fraction of an
// event's row, and cheap to merge). A record is the original when no
// claim of its event exists within the window, or when the
// claim names the record itself; otherwise it is a copy of what the claim
// names. A batch written again after a crash therefore drops the same copies
// and keeps the same originals, whichever of its INSERTs had landed; the
// claims, the rows and the duplicates each take part in the watermarks like
// any table. An original whose row landed and whose claim did not gets its
// claim written then, without its row. The next batch is decided only after
// both landed, and a partition is released by the resize gate, or read by a
// new owner, only from committed offsets, which follow both. Only its probe
// of the in-memory windows (which records' hashes were there) is made
// earlier, while the batch before is written: a hash found there is still
// checked against the claims after that write, and a probe made before a
// scope was dropped or reloaded is made again.
//
// Scopes: a record's scope is murmur2(user_id) mod the topic's partition
// count before its first resize on record in the control topic (the base).
// A resize moves a key from p only to p+k*base, so every copy of an event
// produced by a murmur2 producer lands in a partition of its scope, before
// and after any resize; the resize gate holds a new partition until its
// parent was written past the barrier, and a scope is (re)loaded on first
// use after an assignment, so the claims of the parent are there.
//
// Memory: per loaded scope, the hashes of the window's claims in one
// pointer-free open-addressing set, each 8-byte slot tagged with the age
// bucket (window/24) its id was added in, so a lookup is one probe sequence
// however long the window, and expired ids are swept out once a bucket:
// slots grown at 3/4 full, 10.7 to 21.3 bytes per id, 16 on average. A scope is
// read from ClickHouse (LoadEventIDs) on first use after an assignment:
// sink_dedup_claims is partitioned by day and ordered by (scope_key,
// event_hash), so the read covers the window's claims of that scope only,
// never history; days older than the window are dropped (hourly check). At
// 50k events/s over 24h that is 4.32e9 ids, about 69 GB of memory summed
// over all sink instances (they split the scopes with the partitions): 4.3
// GB per instance with 16. A hash hit is checked in ClickHouse (counted in
// surge_sink_dedup_lookups_total; a copy of an original earlier in the same
// batch needs none): the claims of
// every hit are read by (scope_key, hash) through the ORDER BY key and
// compared by the second hash, so a false hit of the first (2^-64 per
// pair) costs a lookup, never a wrong answer; two different events are
// taken for one only if both hashes collide (2^-128 per pair: at 4.32e9 ids
// in a window, about 3e-20 per day). Topic ids are FNV-1a hashes of the
// names: a sink refuses to start on two topics of one id. Claims written
// before sink_dedup_claims existed are in sink_claims (by topic name) or,
// older, sink_event_ids (with the event_id instead of the second hash, which
// is computed from it): they are read alike until they leave the window.
// A sink from before migration 010 reads neither sink_dedup_claims nor its
// marks: stop every sink of a group before starting the new ones, and do
// not go back to an older sink while claims written since are within the
// window (it would store their copies again, and retry forever on a
// partition whose last mark is an open intent of sink_dedup_claims).
//
// Beyond the window: a copy arriving more than the window after its
// original's claim was written is stored as a new event (counted twice); set
// the window longer than any retry or re-send. Records keyed otherwise than
// by their user_id, or put on another partition by a non-murmur2 producer
// (see keycheck.go: counted and alerted on), are outside their scope's
// partitions: each is checked against ClickHouse's claims on its own, which
// is exact unless its original is being written by another instance at the
// same moment, or was written by an instance that crashed after the
// original's row landed and before its claim did, until that batch is
// replayed (both are then stored: claims go alongside the rows, not before
// them, see below), and its claim is seen by the scope's
// owner only after that owner's next assignment. The rollups follow the raw
// tables (see the materialized-view limit below).
//
// # Design
//
// Three facts make it work:
//
//  1. Every row carries its provenance: kafka_topic, kafka_partition and
//     kafka_offset.
//  2. Every INSERT the sink sends is one native block, with one ingested_at
//     value, into a table partitioned by toYYYYMM(ingested_at). It therefore
//     creates exactly one part, and a part becomes visible atomically: all of an
//     INSERT's rows land, or none do.
//  3. A partition's records are written by one flusher, in offset order, one
//     batch at a time: batch N+1 is sent only after every table of batch N has
//     been written.
//
// From 2 and 3, for each (table, topic, partition) the rows present are exactly
// those with kafka_offset at or below that table's watermark, the max
// kafka_offset it holds for the partition. When the sink takes a partition
// (start, restart after a crash, rebalance) it learns those watermarks and,
// for each record it consumes, skips it if its target table already holds it
// (offset <= watermark). Consumption resumes at the group's committed offset,
// which the sink commits only after a batch is fully written; the commit is an
// optimisation that bounds how much is re-read, never the source of truth.
//
// The watermarks are not computed from the raw tables, whose size grows with
// all history, but from write-ahead marks in the small table sink_offsets
// (one row per table, topic and partition once merged). For every table and
// partition of a batch the flusher writes, in this order:
//
//  1. an intent mark: the table holds offsets up to prev (exact, known from
//     the previous step), and an INSERT stamped ingested_at may add rows up
//     to hi, the last of which sits at a given ORDER BY prefix;
//  2. the INSERT itself (fact 2: all of the partition's rows or none);
//  3. a done mark: the table holds offsets up to hi.
//
// Marks carry a sequence number; a key's state is its mark with the highest
// one. A done mark states the watermark. An intent leaves one question, did
// its INSERT land, and fact 2 reduces it to one row: the reader probes the
// raw table for the intent's last row through that table's ORDER BY prefix
// and the intent's ingested_at (a few granules, whatever the history): if the
// row is there the watermark is hi, otherwise prev. A next intent is written
// only once the previous step is settled (a done mark, or a failed write
// resolved by the same read), so at most the last mark of a key is open,
// and prev is always exact. A mark that fails to land is harmless: a lost
// intent means its INSERT was never sent; a lost done mark leaves the intent
// to be probed. Migration 005 backfilled the marks from the history written
// before they existed (008 on a cluster, see below).
//
// A failed write is ambiguous: the server may have written some tables, or may
// still be writing. The sink tags every INSERT (marks included) with a query
// id ("surge-sink:<group>:<instance>:<seq>:<table>"), waits until no INSERT
// of the failed batch is still running on the server, re-reads the watermarks,
// records them as done marks and retries only the rows still missing. A newly
// assigned partition is likewise read only after no other instance of the
// group has an INSERT running, so a batch a killed instance left in flight is
// either fully visible or gone before the watermarks are read.
//
// Records that fail validation are produced to the dead-letter topic (headers
// carry the reason and the source topic, partition and offset) before their
// sink_rejects row is written; that topic is therefore at-least-once: a crash
// between the two can repeat a dead letter, never lose one. Consumers of dead
// letters dedupe on (source topic, partition, offset).
//
// # Poison records
//
// A record of any size the broker accepts that fails validation never stops
// the sink. Its dead letter is bounded by stream.MaxDeadLetterBytes, within
// franz-go's and Kafka's default size limits: a longer value is cut, and the
// headers surge-value-bytes and surge-value-sha256 give the original's length
// and SHA-256 (the original stays at its source offset; such a dead letter is
// not redriven). A dead-letter topic that refuses one as too large anyway
// (a smaller max.message.bytes) gets it cut to half and sent again. Only the
// dead letters not yet acked are retried, with the source topic, partition
// and offset in the log; the batch's rows wait for them, since a dead letter
// may never be lost. Its sink_rejects row keeps the first 4 KiB.
//
// # Stopping
//
// On cancellation Run stops polling (even while the flusher is stuck
// retrying, as the hand-off to it gives way), then writes and commits what
// it holds within WithShutdownTimeout (default 30 s; surge sink
// --shutdown-timeout). Past it the batch being written is given up
// uncommitted: its records are read again by the next owner and the
// watermarks keep them from being written twice.
//
// # On a ClickHouse cluster
//
// With the schema of `surge migrate --cluster` (Distributed tables over
// replicated T_local tables, raw tables sharded by topic and partition, so
// all rows of a partition live on one shard), the same argument holds per
// shard, and sink instances may each connect to a different node:
//
//   - fact 2 per shard: every INSERT carries insert_distributed_sync=1
//     (analytics.ClusterSettings), so it returns after each shard wrote its
//     block as one part, and a part is committed atomically on its shard (one
//     ZooKeeper transaction adds it and its replication log entry);
//   - the write-ahead marks live with the rows: sink_offsets is a Distributed
//     table over a replicated sink_offsets_local sharded by the same key as
//     the raw tables, cityHash64(kafka_topic, kafka_partition), so a
//     partition's marks and rows are on one shard. Marks are written like
//     rows (insert_distributed_sync=1: the intent is committed on the shard
//     before the INSERT of the rows is sent);
//   - positions are read, per shard (all shards at once), from a replica that
//     has copied the whole replication log of sink_offsets and has no part of
//     it left to fetch: it holds every mark committed on the shard before the
//     read, whichever replica acknowledged it. An open intent is probed on
//     that same replica once the same check passes there for the intent's
//     raw table (else the next replica is read). With insert_quorum=0
//     another replica may lack the newest mark, or hold a mark but not yet
//     the part its intent wrote (the probe would say "not landed"); either
//     could make the sink write rows twice, so it is never read;
//   - "no INSERT of the batch (or of the group) is still running" is checked
//     on every node of the cluster, including the sub-INSERTs a Distributed
//     INSERT sends to other nodes (same initial_query_id). A node that does
//     not answer is taken as idle only when ZooKeeper says its session is
//     gone: without a session it cannot commit a part. So no part of an
//     earlier INSERT (marks included) can commit after the positions are
//     read, wherever the instance that sent it was connected.
//
// Proof sketch, for one (table, topic, partition) on shard S: after the
// checks, the set of committed parts on S is fixed (no INSERT can add one)
// and the replica read holds all of sink_offsets' parts (and the raw
// table's, where it probes). So the newest mark it finds is the newest
// committed anywhere, a done mark states the watermark as on one server,
// and the probe of an intent finds its last row exactly when the intent's
// INSERT committed on S. The rows the sink then writes are exactly those
// above the watermark. The read costs what it costs on one server per
// shard (the marks; one probe query per table with open intents) plus
// choosing the replicas (system.replicas, which reads ZooKeeper): bench
// scenario recovery-cluster.
//
// Failures: a replica that acknowledged a mark (or a row part) and died
// before the other replica fetched it leaves that part queued for fetch
// on the other replica, which is then not in sync: reads of that shard
// wait for the replica to return (see Limits) rather than read a mark
// older than one committed. A sink whose node fails over (--clickhouse
// with a list) writes its next marks through another node; the failed
// write is resolved as on one server. A cluster that ran sinks before they
// wrote marks there gets them from migration 008, which backfills one done
// mark per key from each shard's in-sync replica (local tables to local
// table; a full scan, once, with the sinks stopped); until 008 is applied
// the sink writes no marks and reads positions by the full per-shard scan.
//
// TestClusterMarks (analytics) checks the marks on a real 2 × 2 cluster:
// the backfill, marks next to their rows, intents settled by the probe
// both ways, and a replica that stopped fetching not being read.
// TestSinkClusterExactlyOnce kills -9 sinks on different nodes and kills
// replicas and a sink's node on a real 2 × 2 cluster, and finds 0
// duplicates and 0 missing rows per replica, and marks that agree with a
// full scan.
//
// # Limits
//
//   - Stale writes. Every INSERT the sink sends (write-ahead marks included)
//     is first registered on the server (the query is sent, no rows yet);
//     then the sink commits the job's partitions at their committed offsets,
//     which the group coordinator accepts only from a member of the current
//     generation, and checks that none of them was lost or assigned anew
//     since the job read them; only then are the rows sent. An instance
//     paused (SIGSTOP, a VM freeze) or cut off from Kafka past its session
//     timeout learns there that its partitions moved, aborts that INSERT and
//     drops its batch (surge_sink_stale_batches_total). A check that passed
//     means the instance was a member while its INSERT was already running,
//     so a new owner, which reads watermarks only after no INSERT of the
//     group runs, waits for it. The cost: one OffsetCommit round trip per
//     INSERT, and a new owner waits as long as a paused instance holds an
//     open INSERT (at most the server's receive_timeout). The earlier order
//     (check, then register) left a window that
//     TestSinkPausedInstanceWritesNoStaleBatch hit in 1 of about 5 runs.
//     A refused check (removed from the group, or behind its generation:
//     ILLEGAL_GENERATION) aborts the INSERT at once and drops the batch,
//     never waiting with the INSERT open (a group leader taking partitions
//     waits for that INSERT, and the INSERT would wait for the generation
//     the leader's SyncGroup brings). kgo may keep the batch's partitions
//     assigned through its rejoin without announcing them again
//     (cooperative rebalancing announces only new ones): the next
//     assignment takes them again like new ones, and after a rejoin under
//     a new member id every partition kept from before (rejoin.go). A
//     check passes only under the member id the batch's partitions were
//     taken under, and commits for a partition with no known committed
//     offset where its ownership started reading, never a batch's start
//     (records of a dropped batch lie before it). Without the taking
//     again, partitions stayed unread (missing rows, no duplicates):
//     TestSinkPausedInstanceWritesNoStaleBatch stalled in 3 of 8 runs and
//     the cluster SIGSTOP step in 1 of 9; with it, 8 of 8 and 6 of 6 runs
//     ended exact.
//   - Materialized views (the per-minute rollups) are fed by ClickHouse after the
//     raw part is written. A ClickHouse crash between the two can leave a
//     rollup short of rows the raw table holds, and the INSERT running then
//     fails. The raw tables stay exact. A minute after the sink recovered from
//     such a failed write, the instance owning orders/0 repairs the rollups
//     (WithRollupRepair, analytics.RepairRollups over the raw rows ingested in
//     the hour before: a query over that hour's minutes); `surge migrate
//     --repair` does the same by hand. Two repairs of the same minutes at
//     once (say, a paused former owner of orders/0 waking up) would both add
//     the shortfall.
//   - On a cluster, a shard whose newest part (of a raw table or of
//     sink_offsets) was acknowledged by a replica that died before the part
//     was copied waits for that replica whenever the sink must re-read the
//     positions of its partitions (after a failed write or a rebalance). If
//     that replica's disk is lost for good, its rows are lost from
//     ClickHouse (insert_quorum=0), with or without marks.
//   - Table partitioning is by ingestion month, not event month: event-time
//     filters prune through the ORDER BY key rather than partitions.
//
// # Backpressure
//
// Polling hands a batch to the flusher, which takes at most one batch
// ahead of the one it writes (as a one-slot queue would). While
// ClickHouse is slow that one is taken, polling stops, and franz-go stops
// fetching once its own bounded buffer is full: memory stays bounded by about
// three batches plus the fetch buffer.
package sink
