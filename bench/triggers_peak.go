package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/triggers"
	"github.com/surgeio/surge/stream/triggers/rules"
)

// ratePhase is a stretch of open-loop load at a fixed rate.
type ratePhase struct {
	name string
	dur  time.Duration
	rate int // events/s
}

// phaseLat is the coupon latency of the events sent in one phase.
type phaseLat struct {
	ratePhase
	sent int
	lat  latResult
}

// peakResult is one peak run: latency per phase, and the coupons read.
type peakResult struct {
	phases  []phaseLat
	coupons int // distinct coupons read (read_committed)
	dups    int // coupon records read more than once
	killed  bool
}

// peakRun describes a run: its phases, and for a kill run the phase at
// whose start the triggers process is killed with SIGKILL and started
// again.
type peakRun struct {
	name    string
	phases  []ratePhase
	killAt  int    // phase index; -1: no kill
	binary  string // surge binary, for a kill run (the triggers run as a child process)
	rules   string // rules file, for a kill run
	workDir string
}

// triggersPeak runs the bench workload through one triggers instance at
// the rates of run.phases and measures, per phase, the time from handing
// an event to the producer until a read_committed consumer reads the
// coupon it triggered. Without a kill the triggers run in this process;
// with one they run as `surge triggers` child processes, so that kill -9
// is real, and the restarted process recovers its state from the
// changelog before it issues again.
func triggersPeak(ctx context.Context, e *env, set *rules.Set, users int, run peakRun) (peakResult, error) {
	var res peakResult
	b, err := startBroker(ctx, e)
	if err != nil {
		return res, err
	}
	defer b.Close()
	topics := stream.DefaultTopics()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.ProducerLinger(time.Millisecond),
		kgo.MaxBufferedRecords(1<<20))
	if err != nil {
		return res, err
	}
	defer cl.Close()
	if err := ensureTopics(ctx, cl, topics, e.cfg.partitions); err != nil {
		return res, err
	}

	var stopTriggers func() error
	var kill func() error
	if run.killAt < 0 {
		r, err := triggers.New(triggers.WithClient(stream.ClientConfig{Brokers: b.Addrs(), Logger: e.log}), triggers.WithRules(set),
			triggers.WithGroup("bench-peak"), triggers.WithLogger(e.log))
		if err != nil {
			return res, err
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- r.Run(rctx) }() // ended by stopTriggers
		stopTriggers = func() error { cancel(); return <-done }
	} else {
		child := &triggersChild{bin: run.binary, args: []string{"triggers", "--brokers", strings.Join(b.Addrs(), ","),
			"--rules", run.rules, "--group", "bench-peak-kill", "--instance-id", "bench-peak-1", "--log-level", "warn",
			"--data-dir", run.workDir}}
		if err := child.start(); err != nil {
			return res, err
		}
		stopTriggers = child.stop
		kill = child.killAndRestart
		res.killed = true
	}
	defer func() {
		if stopTriggers != nil {
			_ = stopTriggers()
		}
	}()

	cc, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.ConsumeTopics(topics.Coupons),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(20*time.Millisecond))
	if err != nil {
		return res, err
	}
	defer cc.Close()

	w := newBenchWorkload(3, users, topics, func(int) time.Time { return time.Now() })
	if err := warmUp(ctx, cl, cc, topics); err != nil {
		return res, err
	}

	type sentAt struct {
		at    time.Time
		phase int
	}
	var (
		mu   sync.Mutex
		sent = make(map[string]sentAt, 1<<20)
		seen = map[string]int{}
		lats = make([][]time.Duration, len(run.phases))
	)
	res.phases = make([]phaseLat, len(run.phases))
	stop := make(chan struct{})
	var prodErr error
	go func() {
		defer close(stop)
		for i, ph := range run.phases {
			res.phases[i].ratePhase = ph
			if i == run.killAt {
				if err := kill(); err != nil {
					prodErr = err
					return
				}
				e.printf("  killed the triggers process with SIGKILL and started it again")
			}
			start := time.Now()
			n := 0
			for time.Since(start) < ph.dur && ctx.Err() == nil {
				due := int(time.Since(start).Seconds() * float64(ph.rate))
				for ; n < due; n++ {
					rec, id := w.next()
					mu.Lock()
					sent[id] = sentAt{time.Now(), i}
					mu.Unlock()
					cl.Produce(ctx, rec, nil)
				}
				time.Sleep(time.Millisecond)
			}
			res.phases[i].sent = n
			e.printf("  %s: sent %d events in %s (%s/s)", ph.name, n, ph.dur, fmtRate(float64(n)/ph.dur.Seconds()))
		}
	}()

	var total time.Duration
	for _, ph := range run.phases {
		total += ph.dur
	}
	deadline := time.Now().Add(total + 60*time.Second)
	quiet := time.Time{}
	for time.Now().Before(deadline) && ctx.Err() == nil {
		pctx, c := context.WithTimeout(ctx, 200*time.Millisecond)
		fs := cc.PollFetches(pctx)
		c()
		now := time.Now()
		got := 0
		fs.EachRecord(func(rec *kgo.Record) {
			cp, err := schemas.DecodeCoupon(rec.Value)
			if err != nil {
				return
			}
			got++
			mu.Lock()
			seen[cp.CouponID]++
			s, ok := sent[cp.TriggerEventID]
			mu.Unlock()
			if ok && seen[cp.CouponID] == 1 {
				lats[s.phase] = append(lats[s.phase], now.Sub(s.at))
			}
		})
		select {
		case <-stop:
			if got > 0 || quiet.IsZero() {
				quiet = now.Add(3 * time.Second) // until no coupon arrived for 3s
			} else if now.After(quiet) {
				deadline = now
			}
		default:
		}
	}
	<-stop
	if prodErr != nil {
		return res, prodErr
	}
	if err := cl.Flush(ctx); err != nil {
		return res, err
	}
	for id, n := range seen {
		res.coupons++
		if n > 1 {
			res.dups += n - 1
		}
		_ = id
	}
	for i := range res.phases {
		l := lats[i]
		slices.Sort(l)
		if len(l) == 0 {
			continue
		}
		res.phases[i].lat = latResult{p50: quantile(l, 0.5), p99: quantile(l, 0.99), p999: quantile(l, 0.999), max: l[len(l)-1], n: len(l)}
	}
	err = stopTriggers()
	stopTriggers = nil
	if err != nil && !res.killed {
		return res, err
	}
	return res, nil
}

// warmUp sends add-to-cart events of one shopper until the triggers issue
// a coupon for them: the group is joined and the state restored.
func warmUp(ctx context.Context, cl, cc *kgo.Client, topics stream.Topics) error {
	warm := &schemas.UserEvent{EventID: schemas.NewEventID(), UserID: "warm-up", SessionID: "s", Type: schemas.EventAddToCart,
		SKU: "el-1", CampaignID: "black-friday", TS: time.Now()}
	deadline := time.Now().Add(2 * time.Minute)
	for ctx.Err() == nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("warm-up: no coupon within 2 minutes")
		}
		v, _ := schemas.Encode(warm)
		cl.Produce(ctx, &kgo.Record{Topic: topics.UserEvents, Key: []byte(warm.UserID), Value: v}, nil)
		warm.EventID, warm.TS = schemas.NewEventID(), time.Now()
		pctx, c := context.WithTimeout(ctx, time.Second)
		n := cc.PollFetches(pctx).NumRecords()
		c()
		if n > 0 {
			return nil
		}
	}
	return ctx.Err()
}

// triggersChild is a `surge triggers` child process that can be killed
// with SIGKILL and started again with the same arguments (same instance
// id: the restarted process fences the killed one's transaction and
// takes its partitions back at once).
type triggersChild struct {
	bin  string
	args []string
	cmd  *exec.Cmd
	errb bytes.Buffer
}

func (c *triggersChild) start() error {
	c.cmd = exec.Command(c.bin, c.args...)
	c.cmd.Stderr = &c.errb
	if err := c.cmd.Start(); err != nil {
		return fmt.Errorf("start surge triggers: %w", err)
	}
	return nil
}

func (c *triggersChild) killAndRestart() error {
	if err := c.cmd.Process.Kill(); err != nil {
		return err
	}
	_ = c.cmd.Wait()
	return c.start()
}

func (c *triggersChild) stop() error {
	if c.cmd == nil || c.cmd.Process == nil {
		return nil
	}
	_ = c.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("surge triggers: %v: %s", err, lastLines(c.errb.String(), 5))
		}
		return nil
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		return fmt.Errorf("surge triggers did not stop within 20s")
	}
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(ls[max(0, len(ls)-n):], "\n")
}

// buildSurge builds the surge binary into dir and returns its path.
func buildSurge(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "surge")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/surge")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/surge: %v: %s", err, out)
	}
	return bin, nil
}

// peakReport is the peak runs' share of the triggers section.
type peakReport struct {
	summary string
	targets []target
	body    string
}

// triggersPeaks runs the three peak scenarios: a steady 50k events/s, a
// 10× burst over 5k events/s, and a kill -9 of the triggers process
// under load.
func triggersPeaks(ctx context.Context, e *env, set *rules.Set, users int) (peakReport, error) {
	var rep peakReport
	d := 10 * time.Second
	if e.cfg.quick {
		d = 5 * time.Second
	}
	dir, err := os.MkdirTemp("", "surge-bench-triggers-peak-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(dir)
	bin, err := buildSurge(ctx, dir)
	if err != nil {
		return rep, err
	}
	rulesFile := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesFile, []byte(benchRules), 0o644); err != nil {
		return rep, err
	}
	runs := []peakRun{
		{name: "steady 50k events/s", phases: []ratePhase{{"50k events/s", 2 * d, 50_000}}, killAt: -1},
		{name: "10× burst", phases: []ratePhase{{"5k events/s before", d, 5_000}, {"burst: 50k events/s", d / 2, 50_000},
			{"5k events/s after", d, 5_000}}, killAt: -1},
		{name: "kill -9 at 5k events/s", phases: []ratePhase{{"5k events/s before", d, 5_000},
			{"5k events/s, the first " + d.String() + " after kill -9 and restart", d, 5_000}, {"5k events/s after that", d, 5_000}},
			killAt: 1, binary: bin, rules: rulesFile, workDir: dir},
	}
	var rows [][]string
	for _, r := range runs {
		e.printf("triggers peak: %s", r.name)
		res, err := triggersPeak(ctx, e, set, users, r)
		if err != nil {
			return rep, fmt.Errorf("%s: %w", r.name, err)
		}
		for i, ph := range res.phases {
			l := ph.lat
			rows = append(rows, []string{r.name, ph.name, fmtCount(int64(ph.sent)), fmt.Sprint(l.n), fmtMs(l.p50), fmtMs(l.p99),
				fmtMs(l.p999), fmtMs(l.max)})
			switch {
			case r.killAt < 0 && ph.rate == 50_000:
				goal := "coupon p99 < 100 ms at 50k events/s"
				if len(res.phases) > 1 {
					goal = "coupon p99 < 100 ms during a 10× burst (50k events/s)"
				}
				rep.targets = append(rep.targets, target{Goal: goal, Result: fmtMs(l.p99), Met: l.n > 0 && l.p99 < 100*time.Millisecond})
				if len(res.phases) == 1 {
					rep.summary += fmt.Sprintf("p99 %s at 50k events/s", fmtMs(l.p99))
				} else {
					rep.summary += fmt.Sprintf(", p99 %s in a 10× burst", fmtMs(l.p99))
				}
			case r.killAt == i:
				rep.summary += fmt.Sprintf(", p99 %s (max %s) in the %s after kill -9", fmtMs(l.p99), fmtMs(l.max), d)
			}
		}
		rows = append(rows, []string{r.name, fmt.Sprintf("coupons read: %d, duplicates: %d", res.coupons, res.dups), "", "", "", "", "", ""})
		if res.dups > 0 {
			rep.targets = append(rep.targets, target{Goal: "no duplicate coupon (" + r.name + ")", Result: fmt.Sprint(res.dups), Met: false})
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `
Peak latency: the same workload open loop at the rates below (events are
due at a fixed rate and sent when due, whatever the answers); time from
handing an event to the producer (linger 1 ms) until a read_committed
consumer reads the coupon it triggered, per phase of the run, by the time
the event was sent. Steady and burst runs use an in-process triggers
runner (commit after each poll). The kill run starts `+"`surge triggers`"+`
as a child process (same rules, fixed --instance-id), kills it with
SIGKILL at the start of the second phase and starts it again at once: the
new process fences the old transaction, restores the state from the
changelog and issues the coupons the events of the gap earned. Duplicates
are coupon records read more than once by the read_committed consumer.

`)
	b.WriteString(mdTable([]string{"run", "phase", "events sent", "coupons", "p50", "p99", "p99.9", "max"}, rows))
	rep.body = b.String()
	return rep, nil
}
