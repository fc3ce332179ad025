-- The sink's event_id de-duplication (stream/sink, "Each event counted once").
--
-- sink_event_ids holds one claim per stored event: which record (topic,
-- partition, offset) is the original of an event_id within its scope (the
-- user's partition under the topic's partition count before its first
-- resize). The sink writes a batch's claims BEFORE its rows, in their own
-- INSERT, so that a batch written again after a crash drops the same copies
-- and keeps the same originals. Partitioned by day so that a sink taking a
-- partition reads only the dedup window's claims of that scope (partition
-- pruning plus the ORDER BY prefix), never all history; partitions older
-- than the window are dropped by the sink.
--
-- sink_duplicates holds one row per dropped copy: where the copy was (the
-- provenance columns) and where its original is (original_*). Records in
-- Kafka = rows of the raw tables + sink_rejects + sink_duplicates.

CREATE TABLE IF NOT EXISTS {db}.sink_event_ids
(
    scope           UInt32,
    event_hash      UInt64,
    event_id        String,
    kafka_topic     String,
    kafka_partition Int32,
    kafka_offset    Int64,
    ingested_at     DateTime
)
ENGINE = MergeTree()
PARTITION BY toYYYYMMDD(ingested_at)
ORDER BY (kafka_topic, scope, event_hash);

CREATE TABLE IF NOT EXISTS {db}.sink_duplicates
(
    event_id           String,
    kind               String,
    original_topic     String,
    original_partition Int32,
    original_offset    Int64,
    kafka_topic        String,
    kafka_partition    Int32,
    kafka_offset       Int64,
    ingested_at        DateTime
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(ingested_at)
ORDER BY (kafka_topic, kafka_partition, kafka_offset);
