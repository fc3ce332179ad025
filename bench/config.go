package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// errHelp is returned by parseFlags after printing the usage for -h.
var errHelp = errors.New("help requested")

// config is the run's configuration, with the mode's defaults applied to
// every flag the command line did not set.
type config struct {
	quick      bool
	verbose    bool
	results    string
	cpuprofile string
	partitions int

	scenarioTimeout time.Duration

	producerRecords  int
	producerRuns     int
	producerInFlight int

	sinkRecords       int
	sinkRuns          int
	sinkBatchRows     int
	sinkBatchInterval time.Duration
	dedupRounds       int
	engineConsumers   []int
	engineBlockSizes  []int

	freshRate     float64
	freshDuration time.Duration
	freshInterval time.Duration
	freshPoll     time.Duration

	reportEvents int
	reportOrders int
	reportRuns   int

	recoveryRows []int
	// recoveryClusterRows are the sizes of history of recovery-cluster.
	recoveryClusterRows []int
	recoveryRuns        int
	recoveryFill        int
}

// modeDefaults are the values of the scaled flags in full and quick mode.
type modeDefaults struct {
	producerRecords int
	sinkRecords     int
	sinkRuns        int
	dedupRounds     int
	engineConsumers string
	engineBlocks    string
	freshDuration   time.Duration
	reportEvents    int
	reportOrders    int
	recoveryRows    string
	recoveryCluster string
}

var (
	fullDefaults = modeDefaults{
		producerRecords: 2_000_000,
		sinkRecords:     2_000_000,
		sinkRuns:        3,
		dedupRounds:     10,
		engineConsumers: "1,2",
		engineBlocks:    "65536,1048576",
		freshDuration:   30 * time.Second,
		reportEvents:    10_000_000,
		reportOrders:    1_000_000,
		recoveryRows:    "10000000,100000000,1000000000",
		recoveryCluster: "10000000,100000000",
	}
	quickDefaults = modeDefaults{
		producerRecords: 300_000,
		sinkRecords:     300_000,
		sinkRuns:        1,
		dedupRounds:     2,
		engineConsumers: "1",
		engineBlocks:    "65536",
		freshDuration:   10 * time.Second,
		reportEvents:    1_000_000,
		reportOrders:    100_000,
		recoveryRows:    "1000000,10000000",
		recoveryCluster: "1000000,10000000",
	}
)

func parseFlags(args []string, stderr io.Writer) (config, []string, error) {
	var (
		c                     config
		consumers, blockSizes string
		recoveryRows          string
		recoveryCluster       string
	)
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./bench [flags] [scenario...]\n\nscenarios (default all, in this order):\n")
		for _, sc := range scenarios {
			fmt.Fprintf(stderr, "  %-10s %s\n", sc.name, sc.desc)
		}
		fmt.Fprintf(stderr, "\nflags (defaults are the full run's; -quick scales them down):\n")
		fs.PrintDefaults()
	}
	fs.BoolVar(&c.quick, "quick", false, "scaled-down run for a quick check (about a minute per scenario)")
	fs.BoolVar(&c.verbose, "v", false, "log debug output of the broker, ClickHouse launcher and sink")
	fs.StringVar(&c.results, "results", "", `results file to rewrite; "-" writes none (default bench/RESULTS.md under the module root)`)
	fs.StringVar(&c.cpuprofile, "cpuprofile", "", "write a CPU profile of the whole run (this process only) to this file")
	fs.IntVar(&c.partitions, "partitions", 8, "partitions of every topic")
	fs.DurationVar(&c.scenarioTimeout, "scenario-timeout", 15*time.Minute, "stop a scenario that has not finished after this long and go on with the next (0: no limit)")

	fs.IntVar(&c.producerRecords, "producer-records", fullDefaults.producerRecords, "producer: records per run and side (quick: 300000)")
	fs.IntVar(&c.producerRuns, "producer-runs", 3, "producer: alternating runs per side; the median is reported")
	fs.IntVar(&c.producerInFlight, "producer-inflight", 0, "producer: load generator's MaxInFlight (0: its default)")

	fs.IntVar(&c.sinkRecords, "sink-records", fullDefaults.sinkRecords, "sink: records pre-filled (quick: 300000)")
	fs.IntVar(&c.sinkRuns, "sink-runs", fullDefaults.sinkRuns, "sink: rounds of surge (dedup on and off; an odd number above 1 is rounded up to even) and runs of the engine's best setting; also the runs of sink-cluster and ui's sink half, and the rounds of claims-layout (at least 5); medians are reported (quick: 1)")
	fs.IntVar(&c.sinkBatchRows, "sink-batch-rows", 0, "sink: surge sink batch rows (0: the sink's default)")
	fs.DurationVar(&c.sinkBatchInterval, "sink-batch-interval", 0, "sink: surge sink batch interval (0: the sink's default)")
	fs.IntVar(&c.dedupRounds, "dedup-rounds", fullDefaults.dedupRounds, "sink-dedup: rounds of one drain with dedup on and one with it off (quick: 2)")
	fs.StringVar(&consumers, "engine-consumers", fullDefaults.engineConsumers, "sink: kafka_num_consumers values to try (quick: 1)")
	fs.StringVar(&blockSizes, "engine-block-sizes", fullDefaults.engineBlocks, "sink: kafka_max_block_size values to try (quick: 65536)")

	fs.Float64Var(&c.freshRate, "fresh-rate", 20_000, "freshness: generator rate, records/s")
	fs.DurationVar(&c.freshDuration, "fresh-duration", fullDefaults.freshDuration, "freshness: generator run time (quick: 10s)")
	fs.DurationVar(&c.freshInterval, "fresh-batch-interval", 0, "freshness: sink batch interval (0: the sink's default)")
	fs.DurationVar(&c.freshPoll, "fresh-poll", 50*time.Millisecond, "freshness: probe interval")

	fs.IntVar(&c.reportEvents, "report-events", fullDefaults.reportEvents, "reports: raw user events inserted (quick: 1000000)")
	fs.IntVar(&c.reportOrders, "report-orders", fullDefaults.reportOrders, "reports: raw orders inserted (quick: 100000)")
	fs.IntVar(&c.reportRuns, "report-runs", 5, "reports: timed runs per query; the median is reported")

	fs.StringVar(&recoveryRows, "recovery-rows", fullDefaults.recoveryRows, "recovery: growing sizes of history, rows (quick: 1000000,10000000)")
	fs.StringVar(&recoveryCluster, "recovery-cluster-rows", fullDefaults.recoveryCluster, "recovery-cluster: growing sizes of history on the 2×2 cluster, rows, each filled with INSERT … SELECT (quick: 1000000,10000000)")
	fs.IntVar(&c.recoveryRuns, "recovery-runs", 3, "recovery: timed runs per read; the median is reported")
	fs.IntVar(&c.recoveryFill, "recovery-fill", 100_000_000, "recovery: most rows filled with INSERT … SELECT; larger sizes attach copies of the filled parts")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, nil, errHelp
		}
		return c, nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.quick {
		q := quickDefaults
		if !set["producer-records"] {
			c.producerRecords = q.producerRecords
		}
		if !set["sink-records"] {
			c.sinkRecords = q.sinkRecords
		}
		if !set["sink-runs"] {
			c.sinkRuns = q.sinkRuns
		}
		if !set["dedup-rounds"] {
			c.dedupRounds = q.dedupRounds
		}
		if !set["engine-consumers"] {
			consumers = q.engineConsumers
		}
		if !set["engine-block-sizes"] {
			blockSizes = q.engineBlocks
		}
		if !set["fresh-duration"] {
			c.freshDuration = q.freshDuration
		}
		if !set["report-events"] {
			c.reportEvents = q.reportEvents
		}
		if !set["report-orders"] {
			c.reportOrders = q.reportOrders
		}
		if !set["recovery-rows"] {
			recoveryRows = q.recoveryRows
		}
		if !set["recovery-cluster-rows"] {
			recoveryCluster = q.recoveryCluster
		}
	}
	var err error
	if c.engineConsumers, err = intList("engine-consumers", consumers); err != nil {
		return c, nil, err
	}
	if c.engineBlockSizes, err = intList("engine-block-sizes", blockSizes); err != nil {
		return c, nil, err
	}
	if c.recoveryRows, err = intList("recovery-rows", recoveryRows); err != nil {
		return c, nil, err
	}
	if c.recoveryClusterRows, err = intList("recovery-cluster-rows", recoveryCluster); err != nil {
		return c, nil, err
	}
	if !slices.IsSorted(c.recoveryRows) || !slices.IsSorted(c.recoveryClusterRows) || c.recoveryRuns < 1 {
		return c, nil, errors.New("-recovery-rows and -recovery-cluster-rows must grow and -recovery-runs be positive")
	}
	switch {
	case c.partitions < 1:
		return c, nil, fmt.Errorf("-partitions %d: want at least 1", c.partitions)
	case c.producerRecords < 1 || c.sinkRecords < 1:
		return c, nil, errors.New("-producer-records and -sink-records must be positive")
	case c.producerRuns < 1 || c.reportRuns < 1 || c.sinkRuns < 1 || c.dedupRounds < 1:
		return c, nil, errors.New("-producer-runs, -sink-runs, -dedup-rounds and -report-runs must be positive")
	case c.freshRate <= 0 || c.freshDuration <= 0 || c.freshPoll <= 0:
		return c, nil, errors.New("-fresh-rate, -fresh-duration and -fresh-poll must be positive")
	case c.reportEvents < 1 || c.reportOrders < 1:
		return c, nil, errors.New("-report-events and -report-orders must be positive")
	}
	switch c.results {
	case "-":
		c.results = ""
	case "":
		root, err := moduleRoot()
		if err != nil {
			return c, nil, err
		}
		c.results = filepath.Join(root, "bench", "RESULTS.md")
	}
	return c, fs.Args(), nil
}

// intList parses a comma-separated list of positive integers.
func intList(name, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-%s: %q is not a positive integer", name, f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-%s: empty list", name)
	}
	return out, nil
}

// moduleRoot finds the directory holding surge's go.mod, from the working
// directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/surgeio/surge") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find module root: no go.mod of github.com/surgeio/surge above the working directory; pass -results")
		}
		dir = parent
	}
}
