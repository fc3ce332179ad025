package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/sink"
)

// runSinkCluster pre-fills the topics once, then times surge's sink
// draining them into one ClickHouse server (the baseline) and into a real
// cluster of 2 shards × 2 replicas with ZooKeeper (surge migrate --cluster
// schema, the sink connected to one node), in turns, on the same machine,
// and reports rows/s and CPU per row of each.
func runSinkCluster(ctx context.Context, e *env) (*section, error) {
	n := e.cfg.sinkRecords
	dir, cleanup, err := tempDir("sink-cluster")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	b, err := startBroker(ctx, e)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	single, err := startClickHouse(ctx, e, dir)
	if err != nil {
		return nil, err
	}
	defer single.stop()
	cl, err := testenv.LaunchCluster(ctx, filepath.Join(dir, "cluster"), 2, 2)
	if err != nil {
		return nil, fmt.Errorf("start the ClickHouse cluster: %w", err)
	}
	defer cl.Stop()
	topics := stream.DefaultTopics()
	kc, err := rawClient(b.Addrs(), "bench-prefill")
	if err != nil {
		return nil, err
	}
	defer kc.Close()
	if err := ensureTopics(ctx, kc, topics, e.cfg.partitions); err != nil {
		return nil, err
	}
	load, err := encodeLoad(ctx, n)
	if err != nil {
		return nil, err
	}
	if _, err := produceRaw(ctx, kc, topics, load); err != nil {
		return nil, fmt.Errorf("pre-fill: %w", err)
	}
	load = nil
	e.printf("pre-filled %s records; cluster: ZooKeeper + %d clickhouse-servers", fmtCount(int64(n)), len(cl.Nodes))

	var singles, clusters []surgeSinkResult
	for run := 1; run <= e.cfg.sinkRuns; run++ {
		single.waitMergesIdle(ctx, time.Minute)
		r, err := timeSurgeSink(ctx, e, single, b.Addrs(), uint64(n), 100+run, true)
		if err != nil {
			return nil, fmt.Errorf("sink into one server: %w", err)
		}
		e.printf("one server: %s rows in %.2fs: %s rows/s; CPU %.1fs + %.1fs", fmtCount(int64(r.drain.final)),
			r.drain.took.Seconds(), fmtRate(r.drain.rate()), r.goCPU.Seconds(), r.chCPU.Seconds())
		singles = append(singles, r)
		r, err = timeClusterSink(ctx, e, cl, b.Addrs(), uint64(n), run)
		if err != nil {
			return nil, fmt.Errorf("sink into the cluster: %w", err)
		}
		e.printf("2×2 cluster: %s rows in %.2fs: %s rows/s; CPU %.1fs + %.1fs", fmtCount(int64(r.drain.final)),
			r.drain.took.Seconds(), fmtRate(r.drain.rate()), r.goCPU.Seconds(), r.chCPU.Seconds())
		clusters = append(clusters, r)
	}
	med := func(rs []surgeSinkResult) (rate float64, cpu time.Duration, rows uint64) {
		var rates []float64
		for _, r := range rs {
			rates = append(rates, r.drain.rate())
			cpu += r.goCPU + r.chCPU
			rows += r.drain.final
		}
		return median(rates), cpu, rows
	}
	sRate, sCPU, sRows := med(singles)
	cRate, cCPU, cRows := med(clusters)
	sec := &section{
		Summary: fmt.Sprintf("sink-cluster: one server %s rows/s (%s µs CPU/row), 2×2 cluster %s rows/s (%s µs CPU/row), ratio %.2fx",
			fmtRate(sRate), cpuPerRow(sCPU, sRows), fmtRate(cRate), cpuPerRow(cCPU, cRows), cRate/sRate),
	}
	var rows [][]string
	add := func(name string, rs []surgeSinkResult) {
		for i, r := range rs {
			rows = append(rows, []string{fmt.Sprintf("%s, run %d", name, i+1), fmtCount(int64(r.drain.final)),
				fmt.Sprintf("%.2f s", r.drain.took.Seconds()), fmtRate(r.drain.rate()),
				fmt.Sprintf("%.1f s + %.1f s", r.goCPU.Seconds(), r.chCPU.Seconds()), cpuPerRow(r.goCPU+r.chCPU, r.drain.final)})
		}
	}
	add("one server", singles)
	add("2 shards × 2 replicas", clusters)
	var body strings.Builder
	body.WriteString(mdTable([]string{"target", "rows", "time", "rows/s", "CPU (bench process + clickhouse-servers)", "CPU µs/row"}, rows))
	fmt.Fprintf(&body, `
Median rows/s: one server %s, cluster %s (ratio %.2f×).

Method: the topics (%d partitions each) are pre-filled once with %s records;
each run drains all of them with a fresh consumer group into a fresh database,
one server first, then the cluster (runs alternate). Cluster: ZooKeeper 3.8
and four clickhouse-server 18.16 processes on this machine (2 shards × 2
replicas, internal_replication), schema by Migrate(WithCluster) (surge
migrate --cluster), the sink connected to replica 1 of shard 1, its INSERTs
into the Distributed tables with insert_distributed_sync=1 and
insert_quorum=0 (set per query). The count is the rows the raw tables hold:
on the cluster, per shard the larger of its two replicas' local counts,
summed over shards. CPU: the bench process (sink, broker, polling) plus
every clickhouse-server (and not ZooKeeper), over each drain. Sink settings:
%s.
`, fmtRate(sRate), fmtRate(cRate), cRate/sRate, e.cfg.partitions, fmtCount(int64(n)), sinkSettings(e.cfg))
	sec.Body = body.String()
	return sec, nil
}

// clusterCountQuery counts a node's rows of the raw tables the pre-fill
// feeds.
const clusterCountQuery = "SELECT (SELECT count() FROM user_events_local) + (SELECT count() FROM orders_local) + " +
	"(SELECT count() FROM order_status_local) + (SELECT count() FROM sink_rejects_local)"

// timeClusterSink runs a sink connected to the cluster's first node on a
// fresh cluster database until every shard holds its rows.
func timeClusterSink(ctx context.Context, e *env, cl *testenv.Cluster, addrs []string, want uint64, run int) (surgeSinkResult, error) {
	var res surgeSinkResult
	db := fmt.Sprintf("surge_cluster_%d", run)
	conn, err := analytics.Open(ctx, analytics.Config{Addr: cl.Nodes[0].Addr(), Database: db})
	if err != nil {
		return res, err
	}
	defer func() {
		_ = conn.DB().Exec(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+db+" ON CLUSTER "+testenv.ClusterName)
		_ = conn.Close()
	}()
	if _, err := conn.Migrate(ctx, analytics.WithCluster(testenv.ClusterName)); err != nil {
		return res, err
	}
	count := func(ctx context.Context) (uint64, error) {
		per := map[int]uint64{}
		for _, n := range cl.Nodes {
			db, err := conn.Node(n.Addr())
			if err != nil {
				return 0, err
			}
			var c uint64
			if err := db.QueryRow(ctx, clusterCountQuery).Scan(&c); err != nil {
				return 0, err
			}
			per[n.Shard] = max(per[n.Shard], c)
		}
		var total uint64
		for _, c := range per {
			total += c
		}
		return total, nil
	}
	opts := []sink.Opt{
		sink.WithClient(stream.ClientConfig{Brokers: addrs, ClientID: "bench-sink", Logger: e.log}),
		sink.WithGroup(fmt.Sprintf("bench-sink-cluster-%d", run)),
		sink.WithLogger(e.log),
	}
	if e.cfg.sinkBatchRows > 0 {
		opts = append(opts, sink.WithBatchRows(e.cfg.sinkBatchRows))
	}
	if e.cfg.sinkBatchInterval > 0 {
		opts = append(opts, sink.WithBatchInterval(e.cfg.sinkBatchInterval))
	}
	serversCPU := func() time.Duration {
		var d time.Duration
		for _, n := range cl.Nodes {
			d += serverCPUIn(n.Dir())
		}
		return d
	}
	cpu0, ch0 := processCPU(), serversCPU()
	start := time.Now()
	r, err := startSink(ctx, conn, opts...)
	if err != nil {
		return res, err
	}
	res.drain, err = watchCount(ctx, count, want, start, true, drainStall, r.failed)
	res.goCPU, res.chCPU = processCPU()-cpu0, serversCPU()-ch0
	res.stats = r.s.Stats()
	if serr := r.stop(); err == nil && serr != nil {
		err = serr
	}
	return res, err
}
