package main

import (
	"context"
	"fmt"
	"time"
)

// engineResult is one timed drain by ClickHouse's Kafka table engine.
type engineResult struct {
	index            int
	consumers, block int
	drain            drain         // of distinct event ids once the row count reached want
	rows, dups       uint64        // rows at the end, and how many of them repeat an event id
	goCPU, chCPU     time.Duration // bench process (the broker serving fetches) and clickhouse-server
}

// steady is the drain's steady rate, or 0 when the engine wrote duplicates:
// its row counts below want then include repeats.
func (r engineResult) steady() float64 {
	if r.dups > 0 {
		return 0
	}
	return r.drain.steadyRate()
}

// engineDDL returns the statements that set up a Kafka-engine pipeline in
// database db, and the statement that starts it (the materialized view
// reading the Kafka table). The target tables are created AS surge's, so
// they have the same columns, engine, partitioning, order and rollup.
//
// The Kafka table lists every field of a user event, so JSONEachRow never
// meets an unknown field. On 18.16 a view's SELECT cannot alias ts to its
// parsed value and still read the raw string (aliases shadow columns), and
// a subquery in a view fed by a Kafka table fails with "There is no query",
// so ts_ms is computed from the parsed, whole-second ts.
func engineDDL(db, brokerAddr, topic, group string, consumers, block int) (setup []string, start string) {
	setup = []string{
		"CREATE DATABASE " + db,
		fmt.Sprintf("CREATE TABLE %s.user_events AS surge.user_events", db),
		fmt.Sprintf("CREATE TABLE %s.events_per_minute AS surge.events_per_minute", db),
		fmt.Sprintf(`CREATE MATERIALIZED VIEW %[1]s.events_per_minute_mv TO %[1]s.events_per_minute AS
SELECT campaign_id, type, toStartOfMinute(ts) AS minute, count() AS events
FROM %[1]s.user_events
GROUP BY campaign_id, type, minute`, db),
		fmt.Sprintf(`CREATE TABLE %s.queue
(
    kind        String,
    v           UInt8,
    event_id    String,
    user_id     String,
    session_id  String,
    type        String,
    sku         String,
    campaign_id String,
    ts          String
)
ENGINE = Kafka SETTINGS
    kafka_broker_list = '%s',
    kafka_topic_list = '%s',
    kafka_group_name = '%s',
    kafka_format = 'JSONEachRow',
    kafka_num_consumers = %d,
    kafka_max_block_size = %d`, db, brokerAddr, topic, group, consumers, block),
	}
	start = fmt.Sprintf(`CREATE MATERIALIZED VIEW %[1]s.queue_mv TO %[1]s.user_events AS
SELECT
    event_id, v, user_id, session_id, type, sku, campaign_id,
    parseDateTimeBestEffort(ts) AS ts,
    toInt64(toUInt32(ts)) * 1000 AS ts_ms,
    '%[2]s' AS kafka_topic,
    toInt32(0) AS kafka_partition,
    toInt64(0) AS kafka_offset,
    now() AS ingested_at
FROM %[1]s.queue`, db, topic)
	return setup, start
}

// timeKafkaEngine sets up a Kafka-engine pipeline on a fresh group, times
// it until its user_events table holds want distinct events, and tears it
// down. The engine is at-least-once, so once the row count reaches want the
// distinct event ids are counted instead.
func timeKafkaEngine(ctx context.Context, ch *clickhouse, brokerAddr, topic string, want uint64,
	index, consumers, block int) (engineResult, error) {
	res := engineResult{index: index, consumers: consumers, block: block}
	db := fmt.Sprintf("kafka_engine_%d", index)
	setup, start := engineDDL(db, brokerAddr, topic, fmt.Sprintf("ch-bench-%d", index), consumers, block)
	defer func() {
		// Stop consuming first, then drop the data.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		for _, q := range []string{"DROP TABLE IF EXISTS " + db + ".queue_mv", "DROP TABLE IF EXISTS " + db + ".queue",
			"DROP DATABASE IF EXISTS " + db} {
			_ = ch.conn.DB().Exec(cctx, q)
		}
	}()
	for _, q := range setup {
		if err := ch.conn.DB().Exec(ctx, q); err != nil {
			return res, fmt.Errorf("set up kafka engine: %w", err)
		}
	}
	cpu0, go0 := ch.serverCPU(), processCPU()
	t0 := time.Now()
	if err := ch.conn.DB().Exec(ctx, start); err != nil {
		return res, fmt.Errorf("start kafka engine: %w", err)
	}
	total := countQuery(ch.conn, "SELECT count() FROM "+db+".user_events")
	distinct := countQuery(ch.conn, "SELECT uniqExact(event_id) FROM "+db+".user_events")
	count := func(ctx context.Context) (uint64, error) {
		n, err := total(ctx)
		if err != nil || n < want {
			return n, err
		}
		return distinct(ctx)
	}
	var err error
	res.drain, err = watchCount(ctx, count, want, t0, false, drainStall, nil)
	res.chCPU, res.goCPU = ch.serverCPU()-cpu0, processCPU()-go0
	if err == nil {
		if res.rows, err = total(ctx); err == nil && res.rows > res.drain.final {
			res.dups = res.rows - res.drain.final
		}
	}
	if err != nil {
		if tail := ch.errLogTail(5); tail != "" {
			err = fmt.Errorf("%w; server error log ends:\n%s", err, tail)
		}
		return res, err
	}
	return res, nil
}
