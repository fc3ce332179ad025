-- Coupons per campaign and currency, per minute: campaign-summary counts a
-- campaign's coupons on the row of their own currency (coupons_per_minute
-- keeps no currency, so every currency row of a campaign repeated the
-- campaign's total). A database that already holds coupons gets them into
-- this rollup from the raw coupons table with `surge migrate --repair`
-- (analytics.RepairRollups), once.

CREATE TABLE IF NOT EXISTS {db}.coupons_currency_per_minute
(
    campaign_id String,
    currency    String,
    minute      DateTime,
    issued      AggregateFunction(count),
    value       AggregateFunction(sum, Int64)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(minute)
ORDER BY (campaign_id, currency, minute);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.coupons_currency_per_minute_mv
TO {db}.coupons_currency_per_minute
AS SELECT
    campaign_id,
    currency,
    toStartOfMinute(issued_at) AS minute,
    countState()               AS issued,
    sumState(value)            AS value
FROM {db}.coupons
GROUP BY campaign_id, currency, minute;
