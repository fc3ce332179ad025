package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/loadgen"
	"github.com/surgeio/surge/stream/sink"
)

// freshTarget is the p99 produced-to-visible latency the pipeline is held to.
const freshTarget = 2 * time.Second

// freshTail bounds the wait for the last records after the generator ends.
const freshTail = 60 * time.Second

// runFreshness runs the generator at a steady rate with the sink running
// and measures, for every user event, the time from its hand-off to the
// producer until a query against ClickHouse first sees it.
func runFreshness(ctx context.Context, e *env) (*section, error) {
	b, err := startBroker(ctx, e)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	ch, closeCH, err := startScratchClickHouse(ctx, e, "freshness")
	if err != nil {
		return nil, err
	}
	defer closeCH()
	topics := stream.DefaultTopics()

	p, err := stream.NewProducer(stream.WithBrokers(b.Addrs()...), stream.WithClientID("bench-freshness"))
	if err != nil {
		return nil, err
	}
	defer p.Close()
	joinResizes(ctx, p, e.log)
	acl, err := kgo.NewClient(p.ClusterOpts()...)
	if err != nil {
		return nil, err
	}
	defer acl.Close()
	if err := ensureTopics(ctx, acl, topics, e.cfg.partitions); err != nil {
		return nil, err
	}
	opts := []sink.Opt{
		sink.WithClient(stream.ClientConfig{Brokers: b.Addrs(), ClientID: "bench-freshness-sink", Logger: e.log}),
		sink.WithGroup("bench-freshness"),
		sink.WithLogger(e.log),
	}
	if e.cfg.freshInterval > 0 {
		opts = append(opts, sink.WithBatchInterval(e.cfg.freshInterval))
	}
	sr, err := startSink(ctx, ch.conn, opts...)
	if err != nil {
		return nil, err
	}
	defer sr.stop()

	// Warm-up: one event through the whole pipeline, so that the sink has
	// joined its group and read its watermarks before anything is timed.
	warm := &schemas.UserEvent{EventID: schemas.NewEventID(), UserID: "u-warmup", SessionID: "s-warmup",
		Type: schemas.EventPageView, TS: time.Now()}
	if _, err := p.Produce(ctx, warm); err != nil {
		return nil, fmt.Errorf("warm-up produce: %w", err)
	}
	if _, err := watchCount(ctx, countQuery(ch.conn, "SELECT count() FROM user_events"), 1, time.Now(), true, drainStall, sr.failed); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}

	tr := newTracker()
	g, err := loadgen.New(loadgen.Config{
		Rate:     e.cfg.freshRate,
		Duration: e.cfg.freshDuration,
		Shape:    loadgen.ShapeSteady,
		Seed:     benchSeed,
	}, func(ctx context.Context, r schemas.Record, done func(error)) {
		handoff := time.Now()
		event := r.Kind() == schemas.KindUserEvent
		p.ProduceAsync(ctx, r, func(a stream.Ack, err error) {
			if err == nil && event {
				tr.acked(a.Partition, a.Offset, handoff)
			}
			done(err)
		})
	})
	if err != nil {
		return nil, err
	}

	probeCtx, stopProbe := context.WithCancel(ctx)
	probeDone := make(chan error, 1)
	go func() { probeDone <- probe(probeCtx, ch, topics.UserEvents, e.cfg.freshPoll, tr) }()

	e.printf("producing at %s records/s for %s with the sink running", fmtRate(e.cfg.freshRate), e.cfg.freshDuration)
	st, genErr := g.Run(ctx)
	// Wait for the tail: every acked event visible, or freshTail.
	deadline := time.Now().Add(freshTail)
	for genErr == nil && tr.pending() > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		if err := sr.failed(); err != nil {
			genErr = err
			break
		}
		time.Sleep(e.cfg.freshPoll)
	}
	stopProbe()
	probeErr := <-probeDone
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case genErr != nil:
		return nil, genErr
	case probeErr != nil:
		return nil, probeErr
	case st.Failed > 0:
		return nil, fmt.Errorf("%d records failed to produce", st.Failed)
	}
	sinkStats := sr.s.Stats()
	lat, missing := tr.latencies()
	if missing > 0 {
		return nil, fmt.Errorf("%d of %d user events were not visible in ClickHouse %s after the generator stopped",
			missing, len(lat)+missing, freshTail)
	}
	if len(lat) == 0 {
		return nil, fmt.Errorf("no user event was produced")
	}
	slices.Sort(lat)
	p50, p90, p99, pMax := quantile(lat, 0.50), quantile(lat, 0.90), quantile(lat, 0.99), lat[len(lat)-1]
	met := p99 < freshTarget
	achieved := rate(st.Acked, st.Elapsed)
	e.printf("%s user events measured; sink: %d batches, %d failed writes retried", fmtCount(int64(len(lat))), sinkStats.Batches, sinkStats.Retries)
	sec := &section{
		Summary: fmt.Sprintf("freshness: p50 %s, p99 %s produced-to-visible at %s records/s (target p99 < %s)%s",
			fmtMs(p50), fmtMs(p99), fmtRate(achieved), freshTarget, verdict(met)),
		Targets: []target{{
			Goal:   fmt.Sprintf("p99 produced → visible in ClickHouse < %s", freshTarget),
			Result: fmt.Sprintf("p99 %s (p50 %s)", fmtMs(p99), fmtMs(p50)),
			Met:    met,
		}},
	}
	interval := batchIntervalText(e.cfg.freshInterval)
	var body strings.Builder
	body.WriteString(mdTable([]string{"user events measured", "p50", "p90", "p99", "max", "producer ack p50 / p99"},
		[][]string{{fmtCount(int64(len(lat))), fmtMs(p50), fmtMs(p90), fmtMs(p99), fmtMs(pMax),
			fmtMs(st.LatencyP50) + " / " + fmtMs(st.LatencyP99)}}))
	fmt.Fprintf(&body, `
Load: loadgen at a steady %s records/s for %s (%s records acked, %s/s
achieved; %s of them user events), produced with stream.Producer (acks=all,
idempotent, lz4, linger %s) to the in-process broker (%d partitions), while a
surge sink with %s writes them to the local ClickHouse.

Method, for every user event (not a sample):

1. **Produced**: the time the generator handed the record to
   Producer.ProduceAsync (its ts field is taken at the same moment). The ack
   tells the record's partition and offset.
2. **Visible**: a probe queries, every %s,
   `+"`"+`SELECT kafka_partition, max(kafka_offset) FROM user_events WHERE kafka_topic = '%s' GROUP BY kafka_partition`+"`"+`.
   The sink writes each partition in offset order, one atomic part per
   batch, so every offset at or below a partition's maximum is visible. A
   record's visible time is the moment the first query that covers its
   offset returned.
3. Latency = visible − produced. It overstates the true latency by at most
   one probe interval plus one query's time (a few ms); it includes the
   producer's linger and ack, the sink's fetch and batching, and the
   ClickHouse insert.

The sink had joined its group before timing: one warm-up event was produced
and seen in ClickHouse first. After the generator stopped, probing went on
until every acked user event was visible. The sink wrote %d batches; %d
failed writes were retried.
`,
		fmtRate(e.cfg.freshRate), e.cfg.freshDuration, fmtCount(st.Acked), fmtRate(achieved),
		fmtCount(int64(len(lat))), stream.DefaultLinger, e.cfg.partitions, interval,
		e.cfg.freshPoll, topics.UserEvents, sinkStats.Batches, sinkStats.Retries)
	sec.Body = body.String()
	return sec, nil
}

// probe polls the per-partition watermarks of topic's user events until ctx
// ends, marking acked events visible.
func probe(ctx context.Context, ch *clickhouse, topic string, every time.Duration, tr *tracker) error {
	q := "SELECT kafka_partition, max(kafka_offset) FROM user_events WHERE kafka_topic = '" + topic +
		"' GROUP BY kafka_partition"
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		rows, err := ch.conn.DB().Query(ctx, q)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("probe: %w", err)
		}
		marks := map[int32]int64{}
		for rows.Next() {
			var (
				p  int32
				hi int64
			)
			if err := rows.Scan(&p, &hi); err != nil {
				rows.Close()
				return fmt.Errorf("probe: %w", err)
			}
			marks[p] = hi
		}
		err = rows.Err()
		rows.Close()
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("probe: %w", err)
		}
		tr.visible(marks, time.Now())
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// tracker holds, per partition and in offset order, every acked user
// event's hand-off time and, once seen, its visible time.
type tracker struct {
	mu    sync.Mutex
	parts map[int32]*partTrack
}

type partTrack struct {
	recs []trackedRec
	seen int // recs[:seen] are visible
}

type trackedRec struct {
	offset           int64
	handoff, visible time.Time
}

func newTracker() *tracker { return &tracker{parts: map[int32]*partTrack{}} }

// acked records an ack. Acks of one partition arrive in offset order.
func (t *tracker) acked(partition int32, offset int64, handoff time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pt := t.parts[partition]
	if pt == nil {
		pt = &partTrack{}
		t.parts[partition] = pt
	}
	pt.recs = append(pt.recs, trackedRec{offset: offset, handoff: handoff})
}

// visible marks every tracked record at or below its partition's mark as
// visible at now.
func (t *tracker) visible(marks map[int32]int64, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for p, hi := range marks {
		pt := t.parts[p]
		if pt == nil {
			continue
		}
		for pt.seen < len(pt.recs) && pt.recs[pt.seen].offset <= hi {
			pt.recs[pt.seen].visible = now
			pt.seen++
		}
	}
}

// pending is the number of acked records not yet visible.
func (t *tracker) pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, pt := range t.parts {
		n += len(pt.recs) - pt.seen
	}
	return n
}

// latencies returns the visible − hand-off latency of every visible record,
// and how many acked records never became visible.
func (t *tracker) latencies() ([]time.Duration, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var (
		out     []time.Duration
		missing int
	)
	for _, pt := range t.parts {
		for _, r := range pt.recs[:pt.seen] {
			out = append(out, r.visible.Sub(r.handoff))
		}
		missing += len(pt.recs) - pt.seen
	}
	return out, missing
}
