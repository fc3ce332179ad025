package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/stream/plan"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/sink"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// joinStable starts a member of group on topics and waits until the group
// is Stable with it. The member leaves when the test ends.
func joinStable(t *testing.T, brokers []string, group string, topics ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		cl.PollRecords(ctx, 1)
		cancel()
		dg, err := adm.DescribeGroups(context.Background(), group)
		if err == nil && dg[group].State == "Stable" && len(dg[group].Members) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s never became Stable: %+v, %v", group, dg, err)
		}
	}
}

func TestDoctorReady(t *testing.T) {
	t.Chdir(t.TempDir())
	topics := stream.DefaultTopics()
	brokers := testenv.KafkaPartitions(t, 4, topics.All()...)
	conn := testenv.ClickHouseConn(t)
	joinStable(t, brokers, sink.DefaultGroup, topics.Data()...)

	out, stderr, err := run(t, "doctor", "--brokers", strings.Join(brokers, ","),
		"--clickhouse", conn.Addr(), "--clickhouse-database", conn.Database(),
		"--min-disk-free", "0.01", "--forecast", "orders=1000/s", "--partition-capacity", "10000/s", "--output", "json")
	if err != nil {
		t.Fatalf("doctor on a ready setup: %v\n%s\n%s", err, out, stderr)
	}
	var rep doctorReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if !rep.Ready || rep.Plan == nil {
		t.Errorf("got ready %v, plan %v; want ready with a plan", rep.Ready, rep.Plan != nil)
	}
	want := map[string]bool{"kafka brokers": false, "topic orders": false, "topic dead-letters": false,
		"group surge-sink": false, "clickhouse": false, "clickhouse migrations": false, "clickhouse parts": false}
	for _, c := range rep.Checks {
		if c.Status == analytics.CheckFail {
			t.Errorf("check %s failed on a ready setup: %s", c.Name, c.Message)
		}
		if _, ok := want[c.Name]; ok {
			want[c.Name] = true
			if c.Status != analytics.CheckOK {
				t.Errorf("check %s: got %s (%s), want ok", c.Name, c.Status, c.Message)
			}
		}
	}
	for name, seen := range want {
		if !seen {
			t.Errorf("no %q check in %+v", name, rep.Checks)
		}
	}
}

func TestDoctorNotReady(t *testing.T) {
	t.Chdir(t.TempDir())
	topics := stream.DefaultTopics()
	// orders with too few partitions for the forecast, no coupons topic,
	// no consumer group, and a database never migrated.
	brokers := testenv.KafkaPartitions(t, 2, topics.Orders, topics.OrdersPriority, topics.UserEvents, topics.DeadLetters)
	srv := testenv.ClickHouse(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	db := "t_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		conn, err := analytics.Open(context.Background(), analytics.Config{Addr: srv.Addr(), Database: db})
		if err == nil {
			_ = conn.DB().Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
			conn.Close()
		}
	})

	out, _, err := run(t, "doctor", "--brokers", strings.Join(brokers, ","),
		"--clickhouse", srv.Addr(), "--clickhouse-database", db, "--min-disk-free", "0.01",
		"--forecast", "orders=100000/s", "--partition-capacity", "10000/s")
	if !errors.Is(err, errNotReady) {
		t.Fatalf("got error %v, want errNotReady\n%s", err, out)
	}
	if code := exitCode(context.Background(), err); code == exitOK {
		t.Errorf("got exit code %d, want non-zero", code)
	}
	for _, want := range []string{
		"FAIL  topic orders ", "surge topics resize orders --partitions 20",
		"FAIL  topic coupons ", "missing",
		"FAIL  group surge-sink ", "absent", "surge sink",
		"FAIL  clickhouse migrations ", "surge migrate",
		"not ready; failed:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, name := range []string{"topic orders", "topic coupons", "group surge-sink", "clickhouse migrations"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name the failed check %q", err, name)
		}
	}
	if strings.Contains(out, "FAIL  topic user-events") {
		t.Errorf("user-events has no forecast and exists: want it ok\n%s", out)
	}
}

func TestDoctorNoServers(t *testing.T) {
	t.Chdir(t.TempDir())
	out, _, err := run(t, "doctor", "--data-dir", t.TempDir())
	if !errors.Is(err, errNotReady) {
		t.Fatalf("got %v, want errNotReady", err)
	}
	for _, want := range []string{"FAIL  kafka brokers", "no 'surge broker' running", "FAIL  clickhouse ", "no local ClickHouse running"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestDoctorCoPartitioned: the triggers' three inputs must share one
// partition count; a resize of only one of them is flagged with the fix.
func TestDoctorCoPartitioned(t *testing.T) {
	topics := stream.DefaultTopics()
	state := func(orders, prio, events int32) *plan.State {
		return &plan.State{Topics: map[string]plan.TopicState{
			topics.Orders:         {Topic: topics.Orders, Exists: true, Partitions: orders},
			topics.OrdersPriority: {Topic: topics.OrdersPriority, Exists: true, Partitions: prio},
			topics.UserEvents:     {Topic: topics.UserEvents, Exists: events > 0, Partitions: events},
		}}
	}
	c, ok := doctorCoPartitioned(state(8, 8, 8))
	if !ok || c.Status != analytics.CheckOK {
		t.Errorf("8/8/8: got %+v, %v; want ok", c, ok)
	}
	c, ok = doctorCoPartitioned(state(32, 8, 8))
	if !ok || c.Status != analytics.CheckWarn || !strings.Contains(c.Fix, "--partitions 32") || !strings.Contains(c.Message, "orders 32") {
		t.Errorf("32/8/8: got %+v, %v; want a warning with the resize to 32", c, ok)
	}
	if _, ok := doctorCoPartitioned(state(8, 8, 0)); ok {
		t.Error("user-events missing: got a check, want none (the topic check reports it)")
	}
}
