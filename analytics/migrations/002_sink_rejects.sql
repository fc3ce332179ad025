-- Records the sink could not decode or validate, with the reason and the
-- first 4 KiB of the raw value. Same provenance columns and partitioning as
-- the raw event tables, so rejects take part in the sink's watermarks.

CREATE TABLE IF NOT EXISTS {db}.sink_rejects
(
    reason          String,
    raw             String,
    kafka_topic     String,
    kafka_partition Int32,
    kafka_offset    Int64,
    ingested_at     DateTime
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(ingested_at)
ORDER BY (kafka_topic, kafka_partition, kafka_offset);
