package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/surgeio/surge/stream"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v): got %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestQuantile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	sorted := ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{
		{0, time.Millisecond},
		{0.5, 5 * time.Millisecond},
		{0.9, 9 * time.Millisecond},
		{0.99, 10 * time.Millisecond},
		{1, 10 * time.Millisecond},
	} {
		if got := quantile(sorted, tc.q); got != tc.want {
			t.Errorf("quantile(1..10 ms, %v): got %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := quantile(nil, 0.5); got != 0 {
		t.Errorf("quantile(nil): got %v, want 0", got)
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{fmtRate(950), "950"},
		{fmtRate(412_345), "412k"},
		{fmtRate(1_523_000), "1.52M"},
		{fmtRate(12_300_000), "12.3M"},
		{fmtCount(0), "0"},
		{fmtCount(999), "999"},
		{fmtCount(2_000_000), "2,000,000"},
		{fmtCount(-1234), "-1,234"},
		{fmtMs(1500 * time.Microsecond), "1.5 ms"},
		{fmtMs(1234 * time.Millisecond), "1234 ms"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestSteadyRate(t *testing.T) {
	d := drain{samples: []sample{
		{time.Second, 0},
		{2 * time.Second, 100},  // first ≥ 10%
		{3 * time.Second, 500},  //
		{4 * time.Second, 900},  // first ≥ 90%
		{5 * time.Second, 1000}, //
	}, want: 1000, took: 5 * time.Second, final: 1000}
	if got, want := d.steadyRate(), 400.0; got != want {
		t.Errorf("steadyRate: got %v, want %v", got, want)
	}
	if got, want := d.rate(), 200.0; got != want {
		t.Errorf("rate: got %v, want %v", got, want)
	}
	one := drain{samples: []sample{{time.Second, 1000}}, want: 1000, took: time.Second, final: 1000}
	if got := one.steadyRate(); got != 0 {
		t.Errorf("steadyRate of a single jump: got %v, want 0", got)
	}
	dup := drain{samples: []sample{{2 * time.Second, 1500}}, want: 1000, took: 2 * time.Second, final: 1500}
	if got, want := dup.rate(), 500.0; got != want {
		t.Errorf("rate with duplicates: got %v, want %v", got, want)
	}
}

func TestTracker(t *testing.T) {
	tr := newTracker()
	t0 := time.Unix(1000, 0)
	tr.acked(0, 10, t0)
	tr.acked(0, 11, t0.Add(10*time.Millisecond))
	tr.acked(1, 5, t0)
	tr.visible(map[int32]int64{0: 10, 2: 99}, t0.Add(100*time.Millisecond))
	if got := tr.pending(); got != 2 {
		t.Errorf("pending after first probe: got %d, want 2", got)
	}
	tr.visible(map[int32]int64{0: 11, 1: 5}, t0.Add(300*time.Millisecond))
	lat, missing := tr.latencies()
	if missing != 0 {
		t.Errorf("missing: got %d, want 0", missing)
	}
	want := map[time.Duration]int{100 * time.Millisecond: 1, 290 * time.Millisecond: 1, 300 * time.Millisecond: 1}
	got := map[time.Duration]int{}
	for _, l := range lat {
		got[l]++
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("latencies: got %v, want %v", got, want)
	}
}

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args          []string
		wantProducer  int
		wantConsumers string
		wantNames     string
		wantErr       bool
	}{
		{args: []string{"-results", "-"}, wantProducer: 2_000_000, wantConsumers: "[1 2]", wantNames: "[]"},
		{args: []string{"-results", "-", "-quick", "sink"}, wantProducer: 300_000, wantConsumers: "[1]", wantNames: "[sink]"},
		{args: []string{"-results", "-", "-quick", "-producer-records", "5"}, wantProducer: 5, wantConsumers: "[1]", wantNames: "[]"},
		{args: []string{"-engine-consumers", "0"}, wantErr: true},
		{args: []string{"-partitions", "0"}, wantErr: true},
	} {
		c, names, err := parseFlags(tc.args, io.Discard)
		if tc.wantErr {
			if err == nil {
				t.Errorf("parseFlags(%q): got no error, want one", tc.args)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseFlags(%q): %v", tc.args, err)
			continue
		}
		if c.producerRecords != tc.wantProducer || fmt.Sprint(c.engineConsumers) != tc.wantConsumers ||
			fmt.Sprint(names) != tc.wantNames {
			t.Errorf("parseFlags(%q): got producer %d, consumers %v, names %v; want %d, %s, %s",
				tc.args, c.producerRecords, c.engineConsumers, names, tc.wantProducer, tc.wantConsumers, tc.wantNames)
		}
	}
	if _, err := selectScenarios([]string{"nope"}); err == nil {
		t.Error("selectScenarios(nope): got no error, want one")
	}
}

func TestRenderResultsGolden(t *testing.T) {
	r := results{
		Command: "go run ./bench -quick",
		Date:    time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC),
		Took:    95 * time.Second,
		Quick:   true,
		Machine: machine{NProc: 2, CPU: "Test CPU", MemGiB: 8, Kernel: "Linux 6.1", Go: "go1.26.8",
			ClickHouse: "18.16.1", LoadAvg: "0.10 0.20 0.30", OtherCPU: 19 * time.Second, RunCPU: 190 * time.Second},
		Sections: []*section{{
			Name:    "sink",
			Summary: "sink: surge 412k rows/s, kafka-engine 131k rows/s, ratio 3.1x (target >= 2x)",
			Targets: []target{
				{Goal: "surge sink >= 2× the Kafka engine", Result: "3.1×", Met: true},
				{Goal: "surge sink >= 300k rows/s", Result: "412k rows/s", Met: true},
			},
			Body: mdTable([]string{"consumer", "rows/s"}, [][]string{{"surge", "412k"}, {"Kafka engine", "131k"}}),
			Took: 42 * time.Second,
		}},
	}
	got := renderResults(r)
	path := filepath.Join("testdata", "results.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("renderResults: got\n%s\nwant\n%s", got, want)
	}
}

// TestProducerSides runs every producer side against an in-process broker
// and checks that each writes exactly the records asked for.
func TestProducerSides(t *testing.T) {
	ctx := context.Background()
	e := &env{cfg: config{partitions: 4}, log: slog.New(slog.DiscardHandler), machine: &machine{}}
	b, err := startBroker(ctx, e)
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	defer b.Close()
	cl, err := stream.ClientConfig{Brokers: b.Addrs()}.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const n = 3000
	load, err := encodeLoad(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(load.recs); got != n {
		t.Fatalf("encoded records: got %d, want %d", got, n)
	}
	recs, err := generate(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	sides := map[string]func(context.Context, stream.Topics, int) (time.Duration, error){
		"surge": func(ctx context.Context, tp stream.Topics, n int) (time.Duration, error) {
			return produceSurge(ctx, b.Addrs(), tp, n, 0)
		},
		"alone": func(ctx context.Context, tp stream.Topics, n int) (time.Duration, error) {
			return producePregenerated(ctx, b.Addrs(), tp, recs[:n])
		},
		"raw": func(ctx context.Context, tp stream.Topics, n int) (time.Duration, error) {
			kc, err := rawClient(b.Addrs(), "test")
			if err != nil {
				return 0, err
			}
			defer kc.Close()
			return produceRaw(ctx, kc, tp, load.prefix(n))
		},
	}
	for name, produce := range sides {
		took, _, err := oneRun(ctx, cl, b.Addrs(), topicsNamed("test-"+name), 4, n, produce)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if took <= 0 {
			t.Errorf("%s: got duration %v, want > 0", name, took)
		}
	}
}

// BenchmarkProduce compares the producer sides per record on an in-process
// broker: go test -run '^$' -bench Produce ./bench
func BenchmarkProduce(b *testing.B) {
	ctx := context.Background()
	e := &env{cfg: config{partitions: 8}, log: slog.New(slog.DiscardHandler), machine: &machine{}}
	br, err := startBroker(ctx, e)
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	cl, err := stream.ClientConfig{Brokers: br.Addrs()}.NewClient()
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	run := 0
	bench := func(b *testing.B, produce func(context.Context, stream.Topics, int) (time.Duration, error)) {
		b.ReportAllocs()
		run++
		if _, _, err := oneRun(ctx, cl, br.Addrs(), topicsNamed(fmt.Sprintf("b%d", run)), 8, b.N, produce); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("surge", func(b *testing.B) {
		bench(b, func(ctx context.Context, tp stream.Topics, n int) (time.Duration, error) {
			b.ResetTimer()
			return produceSurge(ctx, br.Addrs(), tp, n, 0)
		})
	})
	b.Run("franz-go", func(b *testing.B) {
		load, err := encodeLoad(ctx, b.N)
		if err != nil {
			b.Fatal(err)
		}
		bench(b, func(ctx context.Context, tp stream.Topics, n int) (time.Duration, error) {
			kc, err := rawClient(br.Addrs(), "bench")
			if err != nil {
				return 0, err
			}
			defer kc.Close()
			b.ResetTimer()
			return produceRaw(ctx, kc, tp, load)
		})
	})
}
