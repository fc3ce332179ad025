-- Per-minute rollups, filled by materialized views with explicit TO tables
-- so that reports read thousands of pre-aggregated rows instead of scanning
-- millions of raw ones. Read them with the -Merge combinators (countMerge,
-- sumMerge, uniqExactMerge) or sum() for events_per_minute, always with a
-- GROUP BY: background merges are eventual.

CREATE TABLE IF NOT EXISTS {db}.orders_per_minute
(
    campaign_id   String,
    currency      String,
    minute        DateTime,
    orders        AggregateFunction(count),
    gmv           AggregateFunction(sum, Int64),
    buyers        AggregateFunction(uniqExact, String),
    coupon_orders AggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(minute)
ORDER BY (campaign_id, currency, minute);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.orders_per_minute_mv
TO {db}.orders_per_minute
AS SELECT
    campaign_id,
    currency,
    toStartOfMinute(created_at)      AS minute,
    countState()                     AS orders,
    sumState(amount)                 AS gmv,
    uniqExactState(user_id)          AS buyers,
    sumState(toUInt64(coupon_id != '')) AS coupon_orders
FROM {db}.orders
GROUP BY campaign_id, currency, minute;

CREATE TABLE IF NOT EXISTS {db}.events_per_minute
(
    campaign_id String,
    type        String,
    minute      DateTime,
    events      UInt64
)
ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(minute)
ORDER BY (campaign_id, type, minute);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.events_per_minute_mv
TO {db}.events_per_minute
AS SELECT
    campaign_id,
    type,
    toStartOfMinute(ts) AS minute,
    count()             AS events
FROM {db}.user_events
GROUP BY campaign_id, type, minute;

CREATE TABLE IF NOT EXISTS {db}.coupons_per_minute
(
    campaign_id String,
    rule_id     String,
    minute      DateTime,
    issued      AggregateFunction(count),
    value       AggregateFunction(sum, Int64)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(minute)
ORDER BY (campaign_id, rule_id, minute);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.coupons_per_minute_mv
TO {db}.coupons_per_minute
AS SELECT
    campaign_id,
    rule_id,
    toStartOfMinute(issued_at) AS minute,
    countState()               AS issued,
    sumState(value)            AS value
FROM {db}.coupons
GROUP BY campaign_id, rule_id, minute;
