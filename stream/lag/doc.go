// Package lag measures how far consumer groups are behind, in records and in
// seconds, and judges each group's health over a sliding window of samples,
// with rules modelled on LinkedIn's Burrow.
//
//	m := lag.New(client, lag.WithGroups("payment", "sink"))
//	snap, err := m.Sample(ctx) // call every few seconds
//	for _, g := range snap.Groups {
//		fmt.Println(g.Group, g.Status, g.LagRecords, g.MaxLagSeconds)
//	}
//
// # One sample
//
// Sample describes the groups (all of them, or those given WithGroups),
// fetches their committed offsets, and lists the start offsets and the last
// stable offsets (the end a read_committed consumer sees, which is the high
// watermark on topics without open transactions) of every partition of every
// topic a group commits to, is assigned or subscribes to. For each
// partition:
//
//   - the position is the committed offset; with no commit it is the log
//     start (the group has everything still stored ahead of it); a commit
//     below the log start (records deleted by retention or compaction) is
//     raised to the log start and flagged, since those records can no longer
//     be consumed;
//   - lag in records is end − position;
//   - lag in seconds is the sample time minus the timestamp of the oldest
//     unconsumed record: the first record a read_committed consumer would
//     get from the position (control records and aborted transactional
//     data are skipped), never below 0 (a producer's clock may run
//     ahead). It is 0 when the lag is 0. When the only records
//     between the position and the end are transaction markers or aborted
//     data, nothing is left to consume, and both lags are 0.
//
// Timestamps are read with one Fetch request per partition leader, at most
// one record batch per partition, under a time bound (WithProbeTimeout); no
// group is joined and nothing is committed. A timestamp is cached by
// (topic, partition, offset), so a partition whose position does not move
// is not fetched again.
//
// # Status
//
// The last K samples of each group (WithWindow, default 10) are kept. Each
// partition is judged over them, and the group takes the worst of its
// partitions (ok < unknown < lagging < stalled < stopped):
//
//   - ok: the lag is 0 now, or was 0 at some sample of the window (Burrow's
//     first rule: a consumer that caught up within the window is fine), or
//     none of the rules below holds.
//   - stopped: the group has no members (state Empty) and lag > 0. Known
//     from one sample.
//   - stalled: members are present, yet the committed offset did not change
//     over the whole window (at least WithMinSamples samples) while the lag
//     stayed above 0. A member that never committed counts as unchanged.
//   - lagging: the lag in seconds is above the threshold
//     (WithLaggingSeconds, default 30s; known from one sample), or the lag
//     in records grew in every interval of the window (the consumer moves,
//     but slower than the producers), or the lag in seconds did while the
//     lag in records did not go down over the window. (A backlog draining
//     after a burst gets older while it shrinks; that alone is not
//     lagging.)
//   - unknown: fewer samples than WithMinSamples (default 3) and no rule
//     that one sample decides applies.
//
// A stalled or lagging group that commits again and catches up is ok at
// the next sample whose window shows the change.
//
// The consumption rate of a partition is the committed offsets' advance
// over the window divided by the window's time span (records/s); a group's
// rate is the sum over its partitions.
//
// # Metrics
//
// Collector exports the last sample for Prometheus: surge_lag_records and
// surge_lag_seconds by group, topic and partition, surge_lag_group_status
// by group and status (1 for the current status, 0 for the others) and
// surge_lag_consume_records_per_second by group and topic.
package lag
