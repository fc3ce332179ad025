// Package sink streams surge's topics (orders, user events, coupons) into
// ClickHouse raw tables, exactly once.
//
// # Guarantee
//
// Every record of a consumed topic ends up in ClickHouse exactly once: either as
// one row of its table (orders, order_status, user_events, coupons) or, when it
// fails validation, as one row of sink_rejects plus a record on the dead-letter
// topic. This holds across kill -9 of the sink at any moment, consumer-group
// rebalances between sink instances, and ClickHouse restarts, on ClickHouse
// 18.16 and later (it needs neither insert_deduplication_token nor replicated
// block deduplication).
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
// before they existed.
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
//   - watermarks are read, per shard, from a replica that has copied the whole
//     replication log and has no part left to fetch: it holds every part
//     committed on the shard before the read. With insert_quorum=0 another
//     replica may still lack a part; reading it could make the sink write
//     rows twice, so it is never read;
//   - "no INSERT of the batch (or of the group) is still running" is checked
//     on every node of the cluster, including the sub-INSERTs a Distributed
//     INSERT sends to other nodes (same initial_query_id). A node that does
//     not answer is taken as idle only when ZooKeeper says its session is
//     gone: without a session it cannot commit a part. So no part of an
//     earlier INSERT can commit after the watermarks are read, wherever the
//     instance that sent it was connected.
//
// Proof sketch, for one (table, topic, partition) on shard S: after the
// checks, the set of committed parts on S is fixed (no INSERT can add one)
// and the replica read holds all of them, so the watermark is the highest
// offset committed anywhere; the rows the sink then writes are exactly
// those above it. TestSinkClusterExactlyOnce kills -9 and SIGSTOPs sinks on
// different nodes and kills replicas and a sink's node on a real 2 × 2
// cluster, and finds 0 duplicates and 0 missing rows per replica.
//
// # Limits
//
//   - A sink instance that is cut off from Kafka longer than the session timeout
//     but can still reach ClickHouse may write one more batch for a partition
//     the group has already given to another instance, if that batch starts
//     after the new owner read its watermarks. Keep the session timeout short
//     and the sink's network to both systems alike; the default session timeout
//     is 10 s.
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
//   - On a cluster, a partition whose newest part was acknowledged by a replica
//     that died before the part was copied waits for that replica whenever the
//     sink must re-read its watermark (after a failed write or a rebalance).
//   - Table partitioning is by ingestion month, not event month: event-time
//     filters prune through the ORDER BY key rather than partitions.
//
// # Backpressure
//
// Polling hands a batch to the flusher through a one-slot queue. While
// ClickHouse is slow the queue is full, polling stops, and franz-go stops
// fetching once its own bounded buffer is full: memory stays bounded by about
// three batches plus the fetch buffer.
package sink
