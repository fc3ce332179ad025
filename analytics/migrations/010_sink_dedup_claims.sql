-- The sink's dedup claims, without a string (stream/sink, "Each event
-- counted once").
--
-- sink_dedup_claims replaces sink_claims (migration 009) for new claims: the
-- same claim (the record that is the original of its event within its
-- scope, the event named by two 64-bit hashes), with the topic and the
-- scope packed into one number, scope_key = topic id << 32 | scope, where
-- the topic id is a 32-bit hash of the topic's name (analytics.TopicID; the
-- sink refuses two topics of one id). Every column is a number: a claim
-- costs ClickHouse 40 bytes before compression, and its INSERT and merges
-- read and write no per-row string and compare two key columns, not
-- three. On one server, the same 2.5 million claims merged in 0.73 of the
-- time sink_claims took (bench claims-layout, bench/RESULTS.md).
--
-- Partitioned by day and ordered by (scope_key, event_hash): a sink taking
-- a partition reads the window's claims of its scopes only, and a lookup
-- goes through the key. On a cluster the table gets a shard_key column,
-- cityHash64(topic, partition) filled in by the writer, and is sharded by
-- it: a partition's claims live on the shard of its other rows and marks.
--
-- Claims written to sink_claims (and sink_event_ids before it) are still
-- read from there until they leave the window; nothing is written there.
-- Sinks from before this migration do not read this table: stop every
-- sink of a group before starting new ones, and do not go back to an older
-- sink while claims written here are within the window.

CREATE TABLE IF NOT EXISTS {db}.sink_dedup_claims
(
    scope_key       UInt64,
    event_hash      UInt64,
    event_hash2     UInt64,
    kafka_partition Int32,
    kafka_offset    Int64,
    ingested_at     DateTime
)
ENGINE = MergeTree()
PARTITION BY toYYYYMMDD(ingested_at)
ORDER BY (scope_key, event_hash);
