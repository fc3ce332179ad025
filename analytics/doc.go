// Package analytics is everything ClickHouse in surge: a launcher for a
// private local server, the connection, schema migrations, the columnar
// batch writer the sink uses, and the named reports analysts run.
//
// # Server
//
// StartLocal runs clickhouse-server (the Debian package, 18.16, or any later
// release) as a child process with a generated config.xml and users.xml
// under one directory: loopback only, default user without password, logs
// under dir/log, data under dir/data. Data persists in the directory across
// restarts. One launcher owns a directory at a time (an flock on
// dir/surge-clickhouse.lock); a server left running on it by an earlier
// process is reported with its pid rather than reused or killed, so nothing
// surprising happens to someone else's data.
//
// Open connects to any server over the native protocol (the HTTP protocol
// does not work with 18.16) and creates the database, "surge" by default.
// On 18.16, INSERT ... VALUES sent through Exec waits for a data block the
// client never sends: insert through PrepareBatch, as Write does, and list
// the columns in every INSERT.
//
// # Tables
//
// Migrations are the .sql files under migrations/, embedded in the binary
// and applied in order once each (recorded in schema_migrations). The raw
// tables hold one row per Kafka record:
//
//	orders        ORDER BY (campaign_id, created_at, user_id)
//	order_status  ORDER BY (status, ts, order_id)
//	user_events   ORDER BY (campaign_id, type, ts, user_id)
//	coupons       ORDER BY (campaign_id, rule_id, issued_at)
//	sink_rejects  ORDER BY (kafka_topic, kafka_partition, kafka_offset)
//
// Money is Int64 minor units; times are DateTime (seconds) plus an Int64
// *_ms column with the milliseconds. Every raw table ends with the Kafka
// provenance columns kafka_topic, kafka_partition, kafka_offset and
// ingested_at, except the sink's dedup claims (sink_dedup_claims), which
// name the topic by a number in scope_key (see dedup.go).
//
// # Partitioning by ingest time
//
// The raw tables are PARTITION BY toYYYYMM(ingested_at), not by event time,
// on purpose. Write sends each table's rows as a single INSERT of a single
// native block with one ingested_at value, so the block falls into exactly
// one partition and ClickHouse writes it as exactly one part. A part is
// committed atomically: after a crash, a table holds either all of an
// INSERT's rows or none of them. Partitioning by event time would split an
// INSERT carrying late or early events into several parts, and a crash
// between them would leave half a batch behind.
//
// That is what the sink's exactly-once delivery rests on: per table and
// Kafka partition, the highest stored kafka_offset tells the sink exactly
// which records are in (Watermarks computes it over the tables; Positions
// reads it from the sink's write-ahead marks in sink_offsets, on one server
// and on a cluster alike, at a cost independent of history), so after a crash it skips what landed
// and writes what did not, leaving neither a gap nor a duplicate. Tables
// are written in the fixed order of Tables (the dedup claims alongside, on
// a connection of their own), and each keeps its own watermark, because a
// crash may fall between two tables' INSERTs.
//
// # Rollups
//
// Materialized views with explicit TO tables keep per-minute rollups up to
// date as rows arrive, so reports stay fast at tens of millions of rows:
//
//	orders_per_minute   AggregatingMergeTree (campaign_id, currency, minute):
//	                    orders countState, gmv sumState(amount),
//	                    buyers uniqExactState(user_id),
//	                    coupon_orders sumState(orders with a coupon)
//	events_per_minute   SummingMergeTree (campaign_id, type, minute): events
//	coupons_per_minute  AggregatingMergeTree (campaign_id, rule_id, minute):
//	                    issued countState, value sumState
//	coupons_currency_per_minute  AggregatingMergeTree (campaign_id, currency,
//	                    minute): the same by coupon currency (campaign-summary);
//	                    coupons stored before it existed get in with RepairRollups
//	campaign_buyers     SummingMergeTree (campaign_id, currency, user_id), one
//	                    row per shopper once merged: ordersMap, the sorted
//	                    minutes of the shopper's orders (-> orders)
//
// Read them with countMerge, sumMerge, uniqExactMerge (or sum for
// events_per_minute) and a GROUP BY, since background merges are eventual.
// campaign-summary counts its distinct buyers in campaign_buyers: a count
// of the largest part's rows with an order minute in the range, plus an
// exact correction for the shoppers of the other parts (report_buyers.go).
// A Conn made with KeepBuyersParts (the campaign page's server) keeps the
// parts in memory, since parts never change, and counts there
// (report_buyers_kept.go): milliseconds at 1M orders, where merging the
// per-minute uniqExact states of orders_per_minute costs about a second of
// CPU and the SQL count tens of milliseconds.
// A view runs inside the INSERT into its source table, after that table's
// part is written; if the view's own write fails, the INSERT reports an
// error although the raw rows are in, and the sink, seeing them in its
// watermarks, does not write them again, so such a batch is missing from
// the rollups (never from the raw tables).
//
// # Reports
//
// Report runs the named reports (ReportNames, DescribeReport) with their
// filters bound as query parameters, never spliced into SQL text.
package analytics
