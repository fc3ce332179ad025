-- Write-ahead marks of the sink's writes, one key per (topic, raw table,
-- partition). Before each INSERT into a raw table the sink writes an intent
-- row (done = 0: rows of this partition with offsets prev+1..hi, stamped
-- ingested_at, may be about to land); after the INSERT it writes a done row
-- (done = 1: the table holds exactly the offsets up to hi). The row with the
-- highest seq is the key's state; ReplacingMergeTree folds the rest away in
-- merges, so the table stays about one row per key however long the history.
-- Recovery reads this table instead of max(kafka_offset) over the raw tables,
-- and probes a raw table only for a key whose last row is an intent, pruned
-- to that intent's ingested_at.

CREATE TABLE IF NOT EXISTS {db}.sink_offsets
(
    kafka_topic     String,
    tbl             String,
    kafka_partition Int32,
    seq             UInt64,
    done            UInt8,
    prev            Int64,
    hi              Int64,
    ingested_at     DateTime,
    probe           String,
    written_at      DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(seq)
ORDER BY (kafka_topic, tbl, kafka_partition);

-- One-time backfill from history written before the marks existed (a full
-- scan, once; stop the sinks while migrating).
INSERT INTO {db}.sink_offsets (kafka_topic, tbl, kafka_partition, seq, done, prev, hi, ingested_at)
SELECT kafka_topic, 'orders', kafka_partition, 0, 1, -1, max(kafka_offset), max(ingested_at)
FROM {db}.orders GROUP BY kafka_topic, kafka_partition;

INSERT INTO {db}.sink_offsets (kafka_topic, tbl, kafka_partition, seq, done, prev, hi, ingested_at)
SELECT kafka_topic, 'order_status', kafka_partition, 0, 1, -1, max(kafka_offset), max(ingested_at)
FROM {db}.order_status GROUP BY kafka_topic, kafka_partition;

INSERT INTO {db}.sink_offsets (kafka_topic, tbl, kafka_partition, seq, done, prev, hi, ingested_at)
SELECT kafka_topic, 'user_events', kafka_partition, 0, 1, -1, max(kafka_offset), max(ingested_at)
FROM {db}.user_events GROUP BY kafka_topic, kafka_partition;

INSERT INTO {db}.sink_offsets (kafka_topic, tbl, kafka_partition, seq, done, prev, hi, ingested_at)
SELECT kafka_topic, 'coupons', kafka_partition, 0, 1, -1, max(kafka_offset), max(ingested_at)
FROM {db}.coupons GROUP BY kafka_topic, kafka_partition;

INSERT INTO {db}.sink_offsets (kafka_topic, tbl, kafka_partition, seq, done, prev, hi, ingested_at)
SELECT kafka_topic, 'sink_rejects', kafka_partition, 0, 1, -1, max(kafka_offset), max(ingested_at)
FROM {db}.sink_rejects GROUP BY kafka_topic, kafka_partition;

INSERT INTO {db}.sink_offsets (kafka_topic, tbl, kafka_partition, seq, done, prev, hi, ingested_at)
SELECT kafka_topic, 'sink_event_ids', kafka_partition, 0, 1, -1, max(kafka_offset), max(ingested_at)
FROM {db}.sink_event_ids GROUP BY kafka_topic, kafka_partition;

INSERT INTO {db}.sink_offsets (kafka_topic, tbl, kafka_partition, seq, done, prev, hi, ingested_at)
SELECT kafka_topic, 'sink_duplicates', kafka_partition, 0, 1, -1, max(kafka_offset), max(ingested_at)
FROM {db}.sink_duplicates GROUP BY kafka_topic, kafka_partition;
