-- The sink's dedup claims, compact (stream/sink, "Each event counted once").
--
-- sink_claims replaces sink_event_ids (migration 004) for new claims: one
-- row per stored event, naming the record (topic, partition, offset) that
-- is the original of its event within its scope. The event is named by two
-- 64-bit hashes instead of its event_id string: event_hash of its kind and
-- id (the in-memory sets hold it) and event_hash2, another hash of both, so two
-- different events match only if both collide (2^-128 per pair). No string
-- but the topic, whose values repeat, so a claim costs ClickHouse a few
-- bytes, and the sink sends each block already in ORDER BY order, so the
-- server need not sort it.
--
-- Same partitioning and key order as sink_event_ids: written with each
-- batch, in an INSERT sent alongside its rows; partitioned by day so that a
-- sink taking a partition reads only the window's claims of its scopes;
-- days older than the window are dropped by the sink. Claims written to
-- sink_event_ids before this migration are still read from there until
-- they leave the window.

CREATE TABLE IF NOT EXISTS {db}.sink_claims
(
    scope           UInt32,
    event_hash      UInt64,
    event_hash2     UInt64,
    kafka_topic     String,
    kafka_partition Int32,
    kafka_offset    Int64,
    ingested_at     DateTime
)
ENGINE = MergeTree()
PARTITION BY toYYYYMMDD(ingested_at)
ORDER BY (kafka_topic, scope, event_hash);
