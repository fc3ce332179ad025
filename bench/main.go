// Command bench measures surge against baselines, side by side in one run on
// one machine, prints the ratios and rewrites bench/RESULTS.md with the
// figures, the machine and the exact command.
//
//	go run ./bench [flags] [scenario...]
//
// Scenarios, run in this order (default: all of them):
//
//	producer   surge's producing path against raw franz-go producing the
//	           same records (as Go values JSON-encoded, and pre-encoded)
//	sink       surge's exactly-once sink against ClickHouse's Kafka table
//	           engine, both draining the same pre-filled topic
//	sink-dedup surge's sink with event_id de-duplication on against off,
//	           in paired rounds on the same pre-filled topics
//	sink-cluster  surge's sink into one ClickHouse server against a real
//	           2 shards × 2 replicas cluster (ZooKeeper from Debian's jars)
//	freshness  produced-to-visible latency in ClickHouse at a steady rate
//	reports    named reports over the rollups against the same queries
//	           over the raw tables
//	triggers   one triggers instance with 20 rules against raw franz-go
//	           consuming; coupon latency at 5k/s, 50k/s, in a 10× burst and
//	           after a kill -9
//	dispatch   per-key concurrency against one-at-a-time per partition;
//	           no-op overhead against raw franz-go consuming
//	gateway    the HTTP gateway against a bare net/http handler
//	recovery   what a sink reads when it takes partitions, at 10M, 100M
//	           and 1B rows of history: write-ahead marks vs full scan
//	recovery-cluster
//	           the same on a 2 shards × 2 replicas cluster, at 10M and
//	           100M rows: marks vs the per-shard full scan
//	ui         the campaign page: API query latency over the rollups at
//	           report scale; sink rows/s with 20 live pages open vs none
//	rehearsal  p50/p99 before and after an order-safe 8 -> 32 resize with
//	           20 ms handlers, against per-key concurrency at 8 partitions
//
// Every scenario starts its own embedded broker (in memory) and its own
// local clickhouse-server (in a temporary directory) and removes them when
// it ends. -quick scales every scenario down for a check that takes about a
// minute. Ctrl-C stops the run cleanly; a second Ctrl-C kills it at once.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

// scenario is one benchmark: it sets up what it needs, measures, cleans up
// and returns its section of the results.
type scenario struct {
	name string
	desc string
	run  func(ctx context.Context, e *env) (*section, error)
}

var scenarios = []scenario{
	{"producer", "surge producer vs raw franz-go, records/s", runProducer},
	{"sink", "surge sink vs ClickHouse Kafka engine, rows/s", runSink},
	{"sink-dedup", "surge sink with event_id dedup on vs off, paired rounds, rows/s and CPU per row", runSinkDedup},
	{"claims-layout", "ClickHouse's cost of the same dedup claims in sink_dedup_claims vs sink_claims (write and merge, server-side)", runClaimsLayout},
	{"sink-cluster", "surge sink on 1 ClickHouse server vs a 2 shards x 2 replicas cluster, rows/s and CPU per row", runSinkCluster},
	{"freshness", "produced-to-visible latency at a steady rate", runFreshness},
	{"reports", "report latency over rollups vs raw tables", runReports},
	{"triggers", "coupon triggers vs raw franz-go, events/s; coupon latency", runTriggers},
	{"dispatch", "dispatch per-key concurrency and overhead, records/s", runDispatch},
	{"gateway", "surge HTTP gateway vs a bare net/http handler, req/s, p99, batch events/s", runGatewayBench},
	{"recovery", "sink recovery read at 10M, 100M, 1B rows of history: write-ahead marks vs full scan", runRecovery},
	{"recovery-cluster", "sink recovery read on a 2 shards x 2 replicas cluster at 10M and 100M rows: write-ahead marks vs per-shard full scan", runRecoveryCluster},
	{"ui", "campaign page: API latency over rollups at 10M events; sink rows/s with 20 live pages vs without", runUI},
	{"rehearsal", "peak rehearsal: 20 ms handlers, p50/p99 before/after an 8 -> 32 resize vs per-key concurrency", runRehearsal},
	{"broker", "surge's embedded broker (connection watch included) vs bare kfake, records/s produced and consumed", runBrokerBench},
}

// env is what every scenario gets: the configuration, a logger, where to
// print progress, and the machine description it may complete.
type env struct {
	cfg     config
	log     *slog.Logger
	out     io.Writer
	machine *machine
}

func (e *env) printf(format string, args ...any) {
	fmt.Fprintf(e.out, "  "+format+"\n", args...)
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	cfg, names, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, errHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	selected, err := selectScenarios(names)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal gets the default behaviour: exit at once
	}()

	level := slog.LevelWarn
	if cfg.verbose {
		level = slog.LevelDebug
	}
	e := &env{
		cfg:     cfg,
		log:     slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
		out:     stdout,
		machine: probeMachine(),
	}

	if cfg.cpuprofile != "" {
		f, err := os.Create(cfg.cpuprofile)
		if err != nil {
			fmt.Fprintln(stderr, "bench: cpu profile:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "bench: cpu profile:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}

	mode := "full"
	if cfg.quick {
		mode = "quick"
	}
	fmt.Fprintf(stdout, "surge bench (%s mode): %s\n", mode, e.machine.summary())
	started := time.Now()
	meter := startCPUMeter()
	var (
		sections []*section
		failed   bool
	)
	for _, sc := range selected {
		fmt.Fprintf(stdout, "== %s: %s\n", sc.name, sc.desc)
		t0 := time.Now()
		sctx, cancel := context.WithCancel(ctx)
		if cfg.scenarioTimeout > 0 {
			sctx, cancel = context.WithTimeout(ctx, cfg.scenarioTimeout)
		}
		sec, err := sc.run(sctx, e)
		timedOut := errors.Is(sctx.Err(), context.DeadlineExceeded)
		cancel()
		if ctx.Err() != nil {
			fmt.Fprintf(stdout, "interrupted during %s; no results written\n", sc.name)
			return 130
		}
		if timedOut {
			err = fmt.Errorf("stopped after -scenario-timeout %s: %v", cfg.scenarioTimeout, err)
		}
		if err != nil {
			fmt.Fprintf(stderr, "bench: %s: %v\n", sc.name, err)
			failed = true
			continue
		}
		sec.Name = sc.name
		sec.Took = time.Since(t0)
		fmt.Fprintln(stdout, sec.Summary)
		sections = append(sections, sec)
	}

	e.machine.OtherCPU, e.machine.RunCPU = meter.stop(e.machine.NProc)
	if cfg.results != "" && len(sections) > 0 {
		doc := results{
			Command:  commandLine(args),
			Date:     started.UTC(),
			Took:     time.Since(started),
			Quick:    cfg.quick,
			Machine:  *e.machine,
			Sections: sections,
		}
		if err := writeResults(cfg.results, doc); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		fmt.Fprintf(stdout, "wrote %s\n", cfg.results)
	}
	if failed {
		return 1
	}
	return 0
}

// selectScenarios returns the named scenarios in their fixed order, or all
// of them when names is empty.
func selectScenarios(names []string) ([]scenario, error) {
	if len(names) == 0 {
		return scenarios, nil
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		found := false
		for _, sc := range scenarios {
			if sc.name == n {
				found = true
			}
		}
		if !found {
			var valid []string
			for _, sc := range scenarios {
				valid = append(valid, sc.name)
			}
			return nil, fmt.Errorf("unknown scenario %q: valid scenarios are %s", n, strings.Join(valid, ", "))
		}
		want[n] = true
	}
	var out []scenario
	for _, sc := range scenarios {
		if want[sc.name] {
			out = append(out, sc)
		}
	}
	return out, nil
}

// commandLine is the command that reproduces this run.
func commandLine(args []string) string {
	if len(args) == 0 {
		return "go run ./bench"
	}
	return "go run ./bench " + strings.Join(args, " ")
}
