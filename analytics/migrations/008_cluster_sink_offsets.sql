-- surge:cluster-only
-- Backfill of the sink's write-ahead marks (see 005) on a ClickHouse
-- cluster, where the sink wrote none before this version: one done mark per
-- (topic, raw table, partition) for the history written so far. On one
-- server 005 did this already, and this migration does nothing there.
--
-- Each statement runs on one replica of each shard that holds every part
-- committed on the shard, reading its local raw tables and writing its local
-- sink_offsets table: a partition's rows and marks live on the same shard,
-- and a replica still fetching parts could backfill a short watermark. It
-- reads all history once; stop the sinks while migrating (a batch written
-- without marks after the backfill read its table would leave the mark
-- short).

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
