package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/triggers"
	"github.com/surgeio/surge/stream/triggers/rules"
)

// triggersProfileEnv, when set to a file name (and -cpuprofile is not),
// writes a CPU profile of the first triggers throughput run alone there and
// stops the scenario after the throughput runs: a development aid.
const triggersProfileEnv = "SURGE_BENCH_TRIGGERS_CPUPROFILE"

// triggersTarget is the share of raw franz-go consuming throughput the
// triggers must keep with 20 rules.
const triggersTarget = 0.60

// runTriggers measures one triggers instance against raw franz-go consuming
// the same topics (with the previous and the current records-per-transaction
// bound), then coupon latency at a steady rate at two commit intervals.
func runTriggers(ctx context.Context, e *env) (*section, error) {
	events, users, rateN, dur := 2_000_000, 1_000_000, 5000, 20*time.Second
	if e.cfg.quick {
		events, dur = 300_000, 8*time.Second
	}
	set, err := rules.Parse("bench.yaml", []byte(benchRules))
	if err != nil {
		return nil, err
	}
	runs := []thrRun{
		{"10,000 records per transaction (the former default)", []triggers.Opt{triggers.WithMaxPollRecords(10_000)}},
		{"default: up to 200,000 records per transaction", nil},
	}
	thr, err := triggersThroughput(ctx, e, set, events, users, runs)
	if err != nil {
		return nil, err
	}
	if os.Getenv(triggersProfileEnv) != "" {
		return nil, fmt.Errorf("%s set: profiled the throughput run only", triggersProfileEnv)
	}
	intervals := []time.Duration{0, 10 * time.Millisecond, 100 * time.Millisecond}
	lats := make([]latResult, len(intervals))
	for i, iv := range intervals {
		if lats[i], err = triggersLatency(ctx, e, set, users, rateN, dur, iv); err != nil {
			return nil, err
		}
	}
	peaks, err := triggersPeaks(ctx, e, set, users)
	if err != nil {
		return nil, err
	}
	last := len(runs) - 1
	ratio := thr.surge[last] / thr.raw
	lat := lats[0]
	sec := &section{
		Summary: fmt.Sprintf("triggers: %s events/s with 20 rules (%.0f%% of raw franz-go %s/s; CPU per event %s vs %s), %.1f%% of events earn a coupon; coupon latency p50 %s p99 %s p99.9 %s at %d events/s",
			fmtRate(thr.surge[last]), 100*ratio, fmtRate(thr.raw), fmtMicros(thr.surgeCPU[last]), fmtMicros(thr.rawCPU),
			100*thr.couponShare, fmtMs(lat.p50), fmtMs(lat.p99), fmtMs(lat.p999), rateN),
		Targets: []target{
			{Goal: fmt.Sprintf("throughput >= %.0f%% of raw franz-go", 100*triggersTarget), Result: fmt.Sprintf("%.0f%%", 100*ratio), Met: ratio >= triggersTarget},
			{Goal: fmt.Sprintf("coupon p99 < 100 ms at %d events/s", rateN), Result: fmtMs(lat.p99), Met: lat.p99 < 100*time.Millisecond},
		},
	}
	sec.Targets = append(sec.Targets, peaks.targets...)
	sec.Summary += "; " + peaks.summary
	var b strings.Builder
	fmt.Fprintf(&b, `Throughput: %s events (user events and orders: shopping sessions of
%s users, 1 in 50 a VIP, 80%% from one campaign) pre-filled on %d
partitions; one `+"`triggers.Runner`"+` with 20 rules (every kind;
campaign, category and VIP filters; budgets; exactly-once transactions
with the state changelog) against a plain franz-go consumer reading the
same topics to the end. %.1f%% of the events earn a coupon (%s), %.0f%%
lead to a changelog record. The clock starts once the group is joined.
CPU per event is the process's CPU time (broker included: it runs in the
same process) over the run divided by the events: unlike the rates, it
hardly depends on what else the shared machine runs.

| consumer | events/s | share of raw | CPU per event |
|---|---|---|---|
| raw franz-go | %s | 100%% | %s |
`, fmtCount(int64(events)), fmtCount(int64(users)), e.cfg.partitions, 100*thr.couponShare, thr.byRule,
		100*thr.stateShare, fmtRate(thr.raw), fmtMicros(thr.rawCPU))
	for i, run := range runs {
		fmt.Fprintf(&b, "| surge triggers, %s | %s | %.0f%% | %s |\n", run.name, fmtRate(thr.surge[i]), 100*thr.surge[i]/thr.raw, fmtMicros(thr.surgeCPU[i]))
	}
	fmt.Fprintf(&b, `
Latency: %d events/s of the same workload for %s, event times of now;
time from handing an event to the producer until a read_committed
consumer of the coupons topic reads the coupon it triggered (coupons of
absence timers are left out: they wait for the watermark by design).
CPU per event as above over the steady run; here it includes the bench's
own producer (one request per event) and coupon consumer, so compare the
rows: the difference is what the transactions cost.

| commit interval | transactions/s | coupons | p50 | p99 | p99.9 | max | CPU per event |
|---|---|---|---|---|---|---|---|
`, rateN, dur)
	for i, iv := range intervals {
		l := lats[i]
		fmt.Fprintf(&b, "| %s | %.0f | %d | %s | %s | %s | %s | %s |\n", fmtInterval(iv), l.txnPerSec, l.n, fmtMs(l.p50), fmtMs(l.p99),
			fmtMs(l.p999), fmtMs(l.max), fmtMicros(l.cpu))
	}
	b.WriteString(`
This is a 2-core machine shared by broker, producer, triggers, consumer
(and, while these figures were taken, other jobs): rates vary from run to
run, the CPU per event much less. The steady rate is what it sustains with
headroom.
`)
	b.WriteString(peaks.body)
	sec.Body = b.String()
	return sec, nil
}

func fmtMicros(d time.Duration) string {
	return fmt.Sprintf("%.2f µs", float64(d)/float64(time.Microsecond))
}

func fmtInterval(d time.Duration) string {
	if d == 0 {
		return "each poll"
	}
	return d.String()
}

type thrRun struct {
	name string
	opts []triggers.Opt
}

type thrResult struct {
	raw                     float64
	surge                   []float64
	byRule                  string          // coupons by rule of the last run
	rawCPU                  time.Duration   // process CPU time per event
	surgeCPU                []time.Duration // (broker included: it runs in the process)
	couponShare, stateShare float64
}

// cpuTime is the CPU time the process used so far (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func triggersThroughput(ctx context.Context, e *env, set *rules.Set, events, users int, runs []thrRun) (thrResult, error) {
	var res thrResult
	b, err := startBroker(ctx, e)
	if err != nil {
		return res, err
	}
	defer b.Close()
	topics := stream.DefaultTopics()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return res, err
	}
	defer cl.Close()
	if err := ensureTopics(ctx, cl, topics, e.cfg.partitions); err != nil {
		return res, err
	}
	e.printf("pre-filling %s events for %s users", fmtCount(int64(events)), fmtCount(int64(users)))
	base := time.Now().Add(-3 * time.Hour)
	w := newBenchWorkload(1, users, topics, func(i int) time.Time { return base.Add(time.Duration(i) * 10 * time.Millisecond) })
	var wg sync.WaitGroup
	var perr error
	var mu sync.Mutex
	for range events {
		rec, _ := w.next()
		wg.Add(1)
		cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				perr = err
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	if perr != nil {
		return res, perr
	}
	inputs := []string{topics.Orders, topics.OrdersPriority, topics.UserEvents}

	// Raw franz-go: read the topics to the end.
	raw, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.ConsumeTopics(inputs...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return res, err
	}
	t0, c0 := time.Now(), cpuTime()
	n := 0
	for n < events && ctx.Err() == nil {
		n += raw.PollFetches(ctx).NumRecords()
	}
	res.raw = rate(int64(n), time.Since(t0))
	res.rawCPU = (cpuTime() - c0) / time.Duration(n)
	raw.Close()

	for i, run := range runs {
		var byRuleMu sync.Mutex
		byRule := map[string]int{}
		r, err := triggers.New(append([]triggers.Opt{triggers.WithClient(stream.ClientConfig{Brokers: b.Addrs(), Logger: e.log}), triggers.WithRules(set),
			triggers.WithGroup("bench-triggers-" + strconv.Itoa(i)), triggers.WithLogger(e.log),
			triggers.WithOnIssue(func(is rules.Issue) { byRuleMu.Lock(); byRule[is.Rule]++; byRuleMu.Unlock() })}, run.opts...)...)
		if err != nil {
			return res, err
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		stopProfile := func() {}
		if path := os.Getenv(triggersProfileEnv); path != "" && i == len(runs)-1 {
			f, err := os.Create(path)
			if err != nil {
				cancel()
				return res, err
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				cancel()
				return res, err
			}
			stopProfile = func() { pprof.StopCPUProfile(); _ = f.Close() }
		}
		go func() { done <- r.Run(rctx) }()
		// The clock starts once the group is joined and the partitions
		// are assigned (the raw consumer joins no group).
		for r.Stats().Partitions < e.cfg.partitions && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		t0, c0 = time.Now(), cpuTime()
		for r.Stats().Records < int64(events) && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		res.surge = append(res.surge, rate(r.Stats().Records, time.Since(t0)))
		res.surgeCPU = append(res.surgeCPU, (cpuTime()-c0)/time.Duration(events))
		stopProfile()
		cancel()
		if err := <-done; err != nil {
			return res, err
		}
		st := r.Stats()
		e.printf("raw %s/s (%s CPU/event); triggers, %s: %s/s (%s CPU/event), %d coupons, %d state records, %d commits, %d late",
			fmtRate(res.raw), fmtMicros(res.rawCPU), run.name, fmtRate(res.surge[i]), fmtMicros(res.surgeCPU[i]), st.Issued, st.StateRecords, st.Commits, st.Late)
		res.byRule = fmtByRule(byRule)
		res.couponShare = float64(st.Issued) / float64(events)
		res.stateShare = float64(st.StateRecords) / float64(events)
	}
	return res, nil
}

// fmtByRule lists coupon counts by rule, largest first.
func fmtByRule(m map[string]int) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b string) int { return m[b] - m[a] })
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

type latResult struct {
	p50, p99, p999, max time.Duration
	n                   int
	cpu                 time.Duration // process CPU per event sent
	txnPerSec           float64
}

func triggersLatency(ctx context.Context, e *env, set *rules.Set, users, perSec int, dur, interval time.Duration) (latResult, error) {
	var res latResult
	b, err := startBroker(ctx, e)
	if err != nil {
		return res, err
	}
	defer b.Close()
	topics := stream.DefaultTopics()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.ProducerLinger(0))
	if err != nil {
		return res, err
	}
	defer cl.Close()
	if err := ensureTopics(ctx, cl, topics, e.cfg.partitions); err != nil {
		return res, err
	}
	r, err := triggers.New(triggers.WithClient(stream.ClientConfig{Brokers: b.Addrs(), Logger: e.log}), triggers.WithRules(set),
		triggers.WithGroup("bench-latency"), triggers.WithLogger(e.log), triggers.WithCommitInterval(interval))
	if err != nil {
		return res, err
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()

	cc, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.ConsumeTopics(topics.Coupons),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(20*time.Millisecond))
	if err != nil {
		return res, err
	}
	defer cc.Close()
	var (
		sentMu sync.Mutex
		sent   = map[string]time.Time{} // event id -> handed to the producer
		lats   []time.Duration
	)
	w := newBenchWorkload(2, users, topics, func(int) time.Time { return time.Now() })
	// Warm-up: wait for the group, with a first search of a fresh user.
	warm := &schemas.UserEvent{EventID: schemas.NewEventID(), UserID: "warm-up", SessionID: "s", Type: schemas.EventAddToCart,
		SKU: "el-1", CampaignID: "black-friday", TS: time.Now()}
	for ctx.Err() == nil {
		v, _ := schemas.Encode(warm)
		cl.Produce(ctx, &kgo.Record{Topic: topics.UserEvents, Key: []byte(warm.UserID), Value: v}, nil)
		warm.EventID, warm.TS = schemas.NewEventID(), time.Now()
		pctx, c := context.WithTimeout(ctx, time.Second)
		n := cc.PollFetches(pctx).NumRecords()
		c()
		if n > 0 {
			break
		}
	}
	e.printf("latency (commit %s): %d events/s for %s", fmtInterval(interval), perSec, dur)
	stop := make(chan struct{})
	var sentN int
	c0, commits0, t0 := cpuTime(), r.Stats().Commits, time.Now()
	var cpu time.Duration
	var commits int64
	var took time.Duration
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.Second / time.Duration(perSec)
		start := time.Now()
		for i := 0; time.Since(start) < dur; i++ {
			if d := time.Until(start.Add(time.Duration(i) * tick)); d > 0 {
				time.Sleep(d)
			}
			rec, id := w.next()
			sentMu.Lock()
			sent[id] = time.Now()
			sentMu.Unlock()
			cl.Produce(ctx, rec, nil)
			sentN++
		}
		cpu, commits, took = cpuTime()-c0, r.Stats().Commits-commits0, time.Since(t0)
		close(stop)
	}()
	deadline := time.Now().Add(dur + 10*time.Second)
	quiet := time.Time{}
	for time.Now().Before(deadline) && ctx.Err() == nil {
		pctx, c := context.WithTimeout(ctx, 200*time.Millisecond)
		fs := cc.PollFetches(pctx)
		c()
		now := time.Now()
		fs.EachRecord(func(rec *kgo.Record) {
			cp, err := schemas.DecodeCoupon(rec.Value)
			if err != nil {
				return
			}
			sentMu.Lock()
			at, ok := sent[cp.TriggerEventID]
			sentMu.Unlock()
			if ok {
				lats = append(lats, now.Sub(at))
			}
		})
		select {
		case <-stop:
			if quiet.IsZero() {
				quiet = now.Add(2 * time.Second)
			} else if now.After(quiet) {
				deadline = now
			}
		default:
		}
	}
	wg.Wait()
	cancel()
	if err := <-done; err != nil {
		return res, err
	}
	if len(lats) == 0 {
		return res, fmt.Errorf("latency: no coupon arrived")
	}
	slices.Sort(lats)
	return latResult{p50: quantile(lats, 0.5), p99: quantile(lats, 0.99), p999: quantile(lats, 0.999), max: lats[len(lats)-1], n: len(lats),
		cpu: cpu / time.Duration(max(sentN, 1)), txnPerSec: float64(commits) / took.Seconds()}, nil
}
