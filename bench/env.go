package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/admin"
	"github.com/surgeio/surge/stream/broker"
)

// machine describes where the run happened.
type machine struct {
	NProc      int
	CPU        string
	MemGiB     float64
	Kernel     string
	Go         string
	ClickHouse string // filled in by the first scenario that starts a server
	LoadAvg    string // 1, 5 and 15 minute load averages when the run started
	// OtherCPU is the CPU time other processes used while the run went
	// on, and RunCPU the CPU time the machine had in that time (wall time ×
	// CPUs); both zero where /proc/stat is unavailable.
	OtherCPU, RunCPU time.Duration
}

// cpuMeter measures the CPU time the rest of the machine uses during a run:
// all busy time from /proc/stat minus this process's and its waited-for
// children's (the clickhouse-servers it started and stopped).
type cpuMeter struct {
	busy, own time.Duration
	start     time.Time
}

func startCPUMeter() cpuMeter {
	return cpuMeter{busy: machineBusy(), own: ownCPU(), start: time.Now()}
}

// stop returns the CPU time others used and the CPU time available.
func (c cpuMeter) stop(nproc int) (other, total time.Duration) {
	busy, own := machineBusy()-c.busy, ownCPU()-c.own
	if c.busy == 0 || busy <= 0 {
		return 0, 0
	}
	return max(busy-own, 0), time.Since(c.start) * time.Duration(nproc)
}

// machineBusy is the non-idle CPU time of the whole machine since boot.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:8] { // user nice system idle iowait irq softirq
		n, _ := strconv.ParseInt(v, 10, 64)
		if i != 3 && i != 4 {
			busy += n
		}
	}
	return time.Duration(busy) * (time.Second / 100)
}

// ownCPU is the CPU time of this process and its waited-for children.
func ownCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return processCPU()
	}
	return processCPU() + time.Duration(ru.Utime.Nano()+ru.Stime.Nano())
}

func probeMachine() *machine {
	m := &machine{NProc: runtime.NumCPU(), Go: runtime.Version(), CPU: "unknown"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				m.MemGiB = kb / (1 << 20)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	} else {
		m.Kernel = runtime.GOOS
	}
	m.LoadAvg = loadAvg()
	return m
}

// loadAvg is the 1, 5 and 15 minute load averages, or "".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	if f := strings.Fields(string(b)); len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return ""
}

func (m *machine) summary() string {
	return fmt.Sprintf("%d CPUs (%s), %.0f GiB, %s, %s, load %s",
		m.NProc, m.CPU, m.MemGiB, m.Kernel, m.Go, m.LoadAvg)
}

// tempDir makes a scratch directory for a scenario; the returned func
// removes it.
func tempDir(name string) (string, func(), error) {
	dir, err := os.MkdirTemp("", "surge-bench-"+name+"-")
	if err != nil {
		return "", nil, fmt.Errorf("make scratch directory: %w", err)
	}
	return dir, func() { _ = os.RemoveAll(dir) }, nil
}

// startBroker starts an in-memory embedded broker.
func startBroker(ctx context.Context, e *env) (*broker.Broker, error) {
	b, err := broker.Start(ctx, broker.WithPartitions(e.cfg.partitions), broker.WithLogger(e.log))
	if err != nil {
		return nil, err
	}
	return b, nil
}

// clickhouse is a local server with an open, migrated connection.
type clickhouse struct {
	srv  *analytics.LocalServer
	conn *analytics.Conn
}

// startClickHouse starts a local clickhouse-server under dir, opens the surge
// database, applies the migrations and records the server version.
func startClickHouse(ctx context.Context, e *env, dir string, opts ...analytics.LocalOpt) (*clickhouse, error) {
	srv, err := analytics.StartLocal(ctx, filepath.Join(dir, "clickhouse"), append(opts, analytics.WithLogger(e.log))...)
	if err != nil {
		return nil, err
	}
	conn, err := analytics.Open(ctx, analytics.Config{Addr: srv.Addr()})
	if err != nil {
		_ = srv.Stop()
		return nil, err
	}
	ch := &clickhouse{srv: srv, conn: conn}
	if _, err := conn.Migrate(ctx); err != nil {
		ch.stop()
		return nil, err
	}
	if e.machine.ClickHouse == "" {
		var v string
		if err := conn.DB().QueryRow(ctx, "SELECT version()").Scan(&v); err == nil {
			e.machine.ClickHouse = v
		}
	}
	return ch, nil
}

// startScratchClickHouse is startClickHouse in a scratch directory named
// after name; close stops the server and removes the directory.
func startScratchClickHouse(ctx context.Context, e *env, name string, opts ...analytics.LocalOpt) (ch *clickhouse, stop func(), err error) {
	dir, cleanup, err := tempDir(name)
	if err != nil {
		return nil, nil, err
	}
	if ch, err = startClickHouse(ctx, e, dir, opts...); err != nil {
		cleanup()
		return nil, nil, err
	}
	return ch, func() { ch.stop(); cleanup() }, nil
}

func (c *clickhouse) stop() {
	_ = c.conn.Close()
	_ = c.srv.Stop()
}

// count returns the result of a query returning one UInt64.
func (c *clickhouse) count(ctx context.Context, query string) (uint64, error) {
	return countQuery(c.conn, query)(ctx)
}

// serverCPU is the CPU time (user + system) the server process has used so
// far, read from /proc; 0 where that is not available.
func (c *clickhouse) serverCPU() time.Duration { return serverCPUIn(c.srv.Dir()) }

// serverCPUIn is the CPU time of the clickhouse-server whose data directory
// is dir (its pid file); 0 where that is not available.
func serverCPUIn(dir string) time.Duration {
	b, err := os.ReadFile(filepath.Join(dir, "clickhouse-server.pid"))
	if err != nil {
		return 0
	}
	stat, err := os.ReadFile("/proc/" + strings.TrimSpace(string(b)) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command: state is field 3, utime and
	// stime are fields 14 and 15, in clock ticks (USER_HZ, 100 on Linux).
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100)
}

// errLogTail returns the last lines of the server's error log, for errors.
func (c *clickhouse) errLogTail(lines int) string {
	b, err := os.ReadFile(filepath.Join(c.srv.Dir(), "log", "clickhouse-server.err.log"))
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// waitMergesIdle waits until the server runs no merge, so that one side's
// background work does not slow down the next measurement; it gives up
// quietly after limit.
func (c *clickhouse) waitMergesIdle(ctx context.Context, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		n, err := c.count(ctx, "SELECT count() FROM system.merges")
		if err != nil || n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// topicsNamed returns surge's topics with every name prefixed, so that runs
// against one broker do not share topics.
func topicsNamed(prefix string) stream.Topics {
	t := stream.DefaultTopics()
	if prefix == "" {
		return t
	}
	return stream.Topics{
		Orders:         prefix + "-" + t.Orders,
		OrdersPriority: prefix + "-" + t.OrdersPriority,
		UserEvents:     prefix + "-" + t.UserEvents,
		Coupons:        prefix + "-" + t.Coupons,
		DeadLetters:    prefix + "-" + t.DeadLetters,
	}
}

// ensureTopics creates t's topics the way `surge topics create` does.
func ensureTopics(ctx context.Context, cl *kgo.Client, t stream.Topics, partitions int) error {
	if _, err := admin.New(cl).EnsureTopics(ctx, admin.DefaultSpecs(t, int32(partitions), 1)); err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	return nil
}

// endOffsets sums the end offsets of partitions 0..partitions-1 of the
// topics: with an idempotent producer and no transactions, the number of
// records written. It uses a client of its own: a client that looked the
// topics up before they were created keeps that answer in its metadata
// cache for a few seconds and would report UNKNOWN_TOPIC_OR_PARTITION.
func endOffsets(ctx context.Context, addrs []string, partitions int, topics ...string) (int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	for _, t := range topics {
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = t
		for p := range partitions {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition = int32(p)
			rp.Timestamp = -1 // latest
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	var n int64
	for _, sh := range cl.RequestSharded(ctx, req) {
		if sh.Err != nil {
			return 0, fmt.Errorf("list end offsets: %w", sh.Err)
		}
		resp := sh.Resp.(*kmsg.ListOffsetsResponse)
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return 0, fmt.Errorf("list end offsets of %s[%d]: %w", t.Topic, p.Partition, err)
				}
				n += p.Offset
			}
		}
	}
	return n, nil
}

// deleteTopics deletes topics, ignoring errors: it only frees the in-memory
// broker's memory between runs.
func deleteTopics(ctx context.Context, cl *kgo.Client, topics ...string) {
	_, _ = kadm.NewClient(cl).DeleteTopics(ctx, topics...)
}

// joinResizes makes p take part in order-safe resizes, as surge's own
// commands do; a failure is logged and the run goes on without.
func joinResizes(ctx context.Context, p *stream.Producer, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p.JoinResizes(ctx); err != nil {
		if log == nil {
			log = slog.Default()
		}
		log.Warn("producer does not take part in resizes", "err", err)
	}
}
