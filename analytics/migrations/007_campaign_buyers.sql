-- Buyers per campaign and currency, one row per shopper: the minutes in
-- which the shopper ordered (with the orders of each minute). campaign-
-- summary counts its distinct buyers here instead of merging per-minute
-- uniqExact sets: once background merges have folded a shopper's rows into
-- one, the buyers of a range are a count of rows, which costs a filter per
-- row instead of a hash-set insert per shopper and minute (see
-- analytics/report_buyers.go for how rows of parts not merged yet are
-- counted exactly).
--
-- SummingMergeTree merges the rows of one (campaign_id, currency, user_id)
-- into one and ordersMap, a nested table named *Map, into one sorted map
-- of minute -> orders. Reports read only which minutes a shopper has; the
-- orders counts keep the rows alive in merges (a row whose sums are all
-- zero is dropped) and may count twice an order that a repair or this
-- backfill added while its view also ran.
--
-- No PARTITION BY: one shopper's rows must be able to merge whatever the
-- minutes of their orders.

CREATE TABLE IF NOT EXISTS {db}.campaign_buyers
(
    campaign_id String,
    currency    String,
    user_id     String,
    ordersMap   Nested(minute DateTime, orders UInt64)
)
ENGINE = SummingMergeTree()
ORDER BY (campaign_id, currency, user_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.campaign_buyers_mv
TO {db}.campaign_buyers
AS SELECT
    campaign_id,
    currency,
    user_id,
    tupleElement(sumMap([toStartOfMinute(created_at)], [toUInt64(1)]), 1) AS `ordersMap.minute`,
    tupleElement(sumMap([toStartOfMinute(created_at)], [toUInt64(1)]), 2) AS `ordersMap.orders`
FROM {db}.orders
GROUP BY campaign_id, currency, user_id;

-- One-time backfill of the orders stored before this migration (a full
-- scan of orders, once; stop the sinks while migrating, as for 005).
INSERT INTO {db}.campaign_buyers (campaign_id, currency, user_id, `ordersMap.minute`, `ordersMap.orders`)
SELECT
    campaign_id,
    currency,
    user_id,
    tupleElement(sumMap([toStartOfMinute(created_at)], [toUInt64(1)]), 1),
    tupleElement(sumMap([toStartOfMinute(created_at)], [toUInt64(1)]), 2)
FROM {db}.orders
GROUP BY campaign_id, currency, user_id;
