-- Raw event tables, one row per Kafka record. Every table ends with the
-- Kafka provenance columns the sink uses for its per-partition watermarks.
--
-- PARTITION BY toYYYYMM(ingested_at) is deliberate: the sink writes one
-- ingested_at value per INSERT, so one INSERT lands in one partition and
-- becomes exactly one part, which ClickHouse commits atomically.

CREATE TABLE IF NOT EXISTS {db}.orders
(
    event_id        String,
    v               UInt8,
    order_id        String,
    user_id         String,
    amount          Int64,
    currency        String,
    campaign_id     String,
    priority        String,
    coupon_id       String,
    item_skus       Array(String),
    item_qtys       Array(Int64),
    item_prices     Array(Int64),
    created_at      DateTime,
    created_at_ms   Int64,
    kafka_topic     String,
    kafka_partition Int32,
    kafka_offset    Int64,
    ingested_at     DateTime
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(ingested_at)
ORDER BY (campaign_id, created_at, user_id);

CREATE TABLE IF NOT EXISTS {db}.order_status
(
    event_id        String,
    v               UInt8,
    order_id        String,
    user_id         String,
    status          String,
    ts              DateTime,
    ts_ms           Int64,
    kafka_topic     String,
    kafka_partition Int32,
    kafka_offset    Int64,
    ingested_at     DateTime
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(ingested_at)
ORDER BY (status, ts, order_id);

CREATE TABLE IF NOT EXISTS {db}.user_events
(
    event_id        String,
    v               UInt8,
    user_id         String,
    session_id      String,
    type            String,
    sku             String,
    campaign_id     String,
    ts              DateTime,
    ts_ms           Int64,
    kafka_topic     String,
    kafka_partition Int32,
    kafka_offset    Int64,
    ingested_at     DateTime
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(ingested_at)
ORDER BY (campaign_id, type, ts, user_id);

CREATE TABLE IF NOT EXISTS {db}.coupons
(
    event_id         String,
    v                UInt8,
    coupon_id        String,
    user_id          String,
    campaign_id      String,
    rule_id          String,
    value            Int64,
    currency         String,
    issued_at        DateTime,
    issued_at_ms     Int64,
    expires_at       DateTime,
    trigger_event_id String,
    kafka_topic      String,
    kafka_partition  Int32,
    kafka_offset     Int64,
    ingested_at      DateTime
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(ingested_at)
ORDER BY (campaign_id, rule_id, issued_at);
