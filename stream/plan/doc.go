// Package plan sizes the pipeline for a forecast peak: partitions per topic
// and consumer instances per group, from a forecast and a measured
// capacity, with the arithmetic spelled out.
//
//	f, _ := plan.ParseForecast([]string{"orders=20k/s@450B", "user-events=150k/s"}, 0)
//	c, _ := plan.Probe(ctx, stream.ClientConfig{Brokers: brokers}, plan.WithProbeRecordBytes(450))
//	st, _ := plan.ReadState(ctx, kadm.NewClient(cl), stream.DefaultTopics().All())
//	p, _ := plan.Compute(f, c, st, plan.Options{})
//
// # Forecast
//
// Per topic, the peak records/s and either the average record size or the
// peak bytes/s: "orders=20000/s", "orders=20k/s@450B",
// "user-events=150k/s@40MB/s" (ParseForecast), or a YAML file of the same
// (LoadForecastFile), which may also give a dispatch group's handler
// latency and in-flight limit.
//
// # Capacity: measured, not guessed
//
// Probe creates a one-partition topic "surge-probe-<random>", produces to it
// at full speed with acks=all for a bounded time (records of the forecast
// size), reads everything back with one consumer, and deletes it: records/s
// and bytes/s per partition for produce and for one consumer. A figure
// from live metrics can be given instead (ParseCapacity); the plan says
// which it used.
//
// # Arithmetic
//
// With headroom H (DefaultHeadroom = 2.0: capacity for twice the forecast,
// i.e. 50% target utilisation):
//
//	partitions = ceil(peak × H / per-partition capacity)   (records, and bytes when known; the larger)
//	           → rounded up to a multiple of the current count, never below it
//	instances  = ceil(sum of the group's topic peaks × H / per-instance capacity)
//	           → capped at the planned partitions of the group's topics
//
// Per-partition capacity is the lower of the produce and the consume
// figure: a partition is read by one consumer of a group. Per-instance
// capacity is the consume figure, or for a dispatch group, whose handlers
// run up to max-in-flight records at once (per key one at a time),
// max-in-flight / handler latency when that is lower.
//
// Rounding to a multiple of the current count is what lets a resize keep
// per-key order: growing from n to k·n partitions sends each old
// partition's keys to k new ones, so the resize can drain old partitions
// before the new ones start.
package plan
