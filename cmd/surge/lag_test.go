package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/stream/lag"
)

// lockedBuffer is a bytes.Buffer safe to read while the command writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runLagCLI runs surge with args in process under ctx.
func runLagCLI(ctx context.Context, out io.Writer, args ...string) error {
	root := newRootCmd()
	root.SetOut(out)
	root.SetErr(io.Discard)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// lagFixture starts a broker with orders[0..1]: 10 records on partition 0
// stamped 90s ago, and group "reporting" (no members) committed at 4.
func lagFixture(t *testing.T) string {
	t.Helper()
	brokers := testenv.KafkaPartitions(t, 2, "orders")
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ts := time.Now().Add(-90 * time.Second)
	for i := 0; i < 10; i++ {
		r := &kgo.Record{Topic: "orders", Partition: 0, Value: []byte("o"), Timestamp: ts}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	os := make(kadm.Offsets)
	os.AddOffset("orders", 0, 4, -1)
	os.AddOffset("orders", 1, 0, -1)
	if err := kadm.NewClient(cl).CommitAllOffsets(ctx, "reporting", os); err != nil {
		t.Fatal(err)
	}
	return strings.Join(brokers, ",")
}

func TestLagJSON(t *testing.T) {
	b := lagFixture(t)
	var out bytes.Buffer
	err := runLagCLI(context.Background(), &out, "lag", "--brokers", b, "--group", "reporting", "--samples", "1", "--output", "json")
	if err != nil {
		t.Fatal(err)
	}
	var snap lag.Snapshot
	if err := json.Unmarshal(out.Bytes(), &snap); err != nil {
		t.Fatalf("output is not a JSON snapshot: %v\n%s", err, out.String())
	}
	g, ok := snap.Group("reporting")
	if !ok || len(snap.Groups) != 1 {
		t.Fatalf("got groups %+v, want reporting only", snap.Groups)
	}
	p, _ := g.Partition("orders", 0)
	if g.Status != lag.StatusStopped || p.LagRecords != 6 || g.LagRecords != 6 {
		t.Errorf("got status %s, orders[0] lag %d, group lag %d; want stopped, 6, 6", g.Status, p.LagRecords, g.LagRecords)
	}
	if p.LagSeconds < 90 || p.LagSeconds > 120 {
		t.Errorf("got orders[0] lag %.1fs, want about 90s", p.LagSeconds)
	}

	// --fail-on: the same run, now an error mapped to exit code 1.
	out.Reset()
	err = runLagCLI(context.Background(), &out, "lag", "--brokers", b, "--samples", "1", "--fail-on", "stalled,stopped")
	if !errors.Is(err, errLagStatus) || !strings.Contains(err.Error(), "group reporting is stopped") {
		t.Fatalf("--fail-on stopped: got %v, want the stopped group named", err)
	}
	if got := exitCode(context.Background(), err); got != exitError {
		t.Errorf("--fail-on stopped: got exit code %d, want %d", got, exitError)
	}
	if !strings.Contains(out.String(), "reporting  stopped  (all)") {
		t.Errorf("--fail-on still prints the table; got\n%s", out.String())
	}
	// Several samples: the table says how many the status was judged on.
	out.Reset()
	if err := runLagCLI(context.Background(), &out, "lag", "--brokers", b, "--samples", "2", "--interval", "50ms"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Empty, 0 member(s), 2 sample(s)") || !strings.Contains(out.String(), "reporting  stopped  orders  0          6") {
		t.Errorf("table after 2 samples: got\n%s\nwant the stopped partition row and a summary of 2 samples", out.String())
	}

	// The states are exact: a stopped group is not lagging.
	if err := runLagCLI(context.Background(), io.Discard, "lag", "--brokers", b, "--samples", "1", "--fail-on", "lagging"); err != nil {
		t.Errorf("--fail-on lagging with only a stopped group: got %v, want none", err)
	}
}

// TestLagWatch: --watch writes one JSON object per line per interval, serves
// the metrics, and ends cleanly when its context ends (as on SIGINT).
func TestLagWatch(t *testing.T) {
	b := lagFixture(t)
	addr := testenv.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- runLagCLI(ctx, &out, "lag", "--brokers", b, "--watch", "--interval", "100ms", "--output", "json", "--metrics-addr", addr)
	}()
	var metrics string
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			metrics = string(body)
			if strings.Count(out.String(), "\n") >= 3 && strings.Contains(metrics, "surge_lag_records") {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("watch ended with %v, want a clean stop", err)
	}
	for _, want := range []string{
		`surge_lag_records{group="reporting",partition="0",topic="orders"} 6`,
		`surge_lag_group_status{group="reporting",status="stopped"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s:\n%s", want, metrics)
		}
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 3 {
		t.Fatalf("got %d lines, want at least 3 samples:\n%s", len(lines), out.String())
	}
	var prev time.Time
	for i, l := range lines {
		var snap lag.Snapshot
		if err := json.Unmarshal([]byte(l), &snap); err != nil {
			t.Fatalf("line %d is not a JSON snapshot: %v\n%s", i+1, err, l)
		}
		if g, _ := snap.Group("reporting"); g.LagRecords != 6 || !snap.Time.After(prev) {
			t.Errorf("line %d: got lag %d at %s, want 6 at a later time than %s", i+1, g.LagRecords, snap.Time, prev)
		}
		prev = snap.Time
	}
}

func TestLagTable(t *testing.T) {
	oldest := time.Unix(1_700_000_000, 0)
	snap := lag.Snapshot{Time: oldest.Add(95 * time.Second), Groups: []lag.GroupLag{
		{Group: "ghost", Status: lag.StatusUnknown, Reason: "no such group", Err: "no such group", LagRecords: 0},
		{Group: "payment", State: "Stable", Members: 2, Status: lag.StatusStalled, Samples: 3,
			Reason:     "orders[0]: committed offset 30 unchanged over 3 samples (10s) with 70 records of lag",
			LagRecords: 70, MaxLagSeconds: 95, Rate: 1.5, Partitions: []lag.PartitionLag{
				{Topic: "orders", Partition: 0, Committed: 30, End: 100, LagRecords: 70, LagSeconds: 95, Oldest: &oldest, Status: lag.StatusStalled},
				{Topic: "orders", Partition: 1, Committed: 12, End: 12, Rate: 1.5, Status: lag.StatusOK},
				{Topic: "orders", Partition: 2, Committed: -1, LagRecords: -1, LagSeconds: -1, Status: lag.StatusUnknown, Err: "end offset: NOT_LEADER_FOR_PARTITION"},
			}},
	}}
	var out bytes.Buffer
	if err := lagTable(&out, snap); err != nil {
		t.Fatal(err)
	}
	want := `GROUP    STATUS   TOPIC   PARTITION  LAG  LAG_SECONDS  RATE/S  NOTE
ghost    unknown  (all)              0    0.0          0.0     no such group
payment  stalled  orders  0          70   95.0         0.0
payment  ok       orders  1          0    0.0          1.5
payment  unknown  orders  2          ?    ?            0.0     end offset: NOT_LEADER_FOR_PARTITION
payment  stalled  (all)              70   95.0         1.5     orders[0]: committed offset 30 unchanged over 3 samples (10s) with 70 records of lag; Stable, 2 member(s), 3 sample(s)
`
	if got := trimLines(out.String()); got != trimLines(want) {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	out.Reset()
	if err := lagTable(&out, lag.Snapshot{}); err != nil || out.String() != "no consumer groups\n" {
		t.Errorf("no groups: got %q, %v", out.String(), err)
	}
}

func TestLagUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--fail-on", "ok"}, `--fail-on "ok": want lagging, stalled or stopped`},
		{[]string{"--fail-on", "broken"}, `--fail-on "broken"`},
		{[]string{"--interval", "0s"}, "--interval must be above 0"},
		{[]string{"--samples", "0"}, "--samples must be at least 1"},
		{[]string{"--window", "1"}, "--window must be at least 2"},
		{[]string{"--lagging-seconds", "-1"}, "--lagging-seconds must not be negative"},
		{[]string{"--output", "csv"}, `unknown output format "csv"`},
	} {
		args := append([]string{"lag", "--brokers", "127.0.0.1:1"}, tt.args...)
		err := runLagCLI(context.Background(), io.Discard, args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("surge %v: got error %v, want one containing %q", args, err, tt.want)
			continue
		}
		if got := exitCode(context.Background(), err); got != exitUsage {
			t.Errorf("surge %v: got exit code %d, want %d", args, got, exitUsage)
		}
	}
}

// trimLines drops trailing spaces, which the table's empty last column
// leaves.
func trimLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}
