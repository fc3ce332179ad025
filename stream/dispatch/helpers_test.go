package dispatch_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/dispatch"
)

var topics = stream.DefaultTopics()

// cluster starts kfake with the dispatch topics.
func cluster(t *testing.T, partitions int32) []string {
	t.Helper()
	return testenv.KafkaCluster(t, partitions, []string{topics.Orders, topics.OrdersPriority, topics.DeadLetters},
		kfake.GroupMinSessionTimeout(500*time.Millisecond)).ListenAddrs()
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("DISPATCH_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// value is a record value: a valid order whose event id names key and seq
// (the dispatcher dead-letters invalid records before any handler).
func value(key string, seq int) []byte {
	return fmt.Appendf(nil, `{"kind":"order","v":1,"event_id":"e-%s-%d","order_id":"o-%s-%d","user_id":%q,`+
		`"items":[{"sku":"tv-55","qty":1,"unit_price":49900}],"amount":49900,"currency":"EUR","created_at":"2024-11-29T08:00:00.000Z"}`,
		key, seq, key, seq, key)
}

// keySeq reads key and seq back from an event id "e-<key>-<seq>".
func keySeq(eventID string) (string, int) {
	i := strings.LastIndexByte(eventID, '-')
	seq, _ := strconv.Atoi(eventID[i+1:])
	return eventID[2:i], seq
}

// produce writes perKey records for each of keys keys ("u0000", ...) to
// topic, seq 0..perKey-1 per key, interleaved at random, and returns the
// keys.
func produce(t *testing.T, brokers []string, topic string, keys, perKey int, hdr func(key string, seq int) []kgo.RecordHeader) []string {
	t.Helper()
	return produceNamed(t, brokers, topic, "u", keys, perKey, hdr)
}

// produceNamed is produce with keys named prefix+"0000", ...
func produceNamed(t *testing.T, brokers []string, topic, prefix string, keys, perKey int, hdr func(key string, seq int) []kgo.RecordHeader) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	names, err := produceWith(cl, topic, prefix, keys, perKey, hdr)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// produceWith is produceNamed on a client of the caller's, for goroutines
// (which must not call t.Fatal).
func produceWith(cl *kgo.Client, topic, prefix string, keys, perKey int, hdr func(key string, seq int) []kgo.RecordHeader) ([]string, error) {
	names := make([]string, keys)
	next := make([]int, keys)
	var order []int
	for k := range keys {
		names[k] = fmt.Sprintf("%s%04d", prefix, k)
		for range perKey {
			order = append(order, k)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	var wg sync.WaitGroup
	var perr error
	var mu sync.Mutex
	for _, k := range order {
		seq := next[k]
		next[k]++
		r := &kgo.Record{Topic: topic, Key: []byte(names[k]), Value: value(names[k], seq)}
		if hdr != nil {
			r.Headers = hdr(names[k], seq)
		}
		wg.Add(1)
		cl.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				perr = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return names, perr
}

// checker verifies per-key order over every handler call. The property is
// the one at-least-once delivery in key order promises: a record's handler
// starts only after every earlier record of its key was handled
// successfully at least once, or was given up on (a dead letter: the key
// moved past a record whose last call failed). Redeliveries of records
// already handled are allowed and counted.
type checker struct {
	mu         sync.Mutex
	running    map[string]bool
	ok         map[string]map[int]int  // successful calls per key and seq
	failed     map[string]map[int]bool // whether a seq's last call failed
	doneUpTo   map[string]int          // per key, the first seq not yet handled or given up
	calls      int
	replays    int              // calls for a record already handled successfully
	advanced   map[string][]int // seqs a key moved past after a failure (must be dead letters)
	violations []string
	history    map[string][]string // per key: "seq" or "seq!" (failed), in call order
}

func newChecker() *checker {
	return &checker{running: map[string]bool{}, ok: map[string]map[int]int{}, failed: map[string]map[int]bool{},
		doneUpTo: map[string]int{}, advanced: map[string][]int{}, history: map[string][]string{}}
}

// begin records the start of a call.
func (c *checker) begin(key string, seq int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.running[key] {
		c.violations = append(c.violations, fmt.Sprintf("%s: seq %d called while another call of the key runs", key, seq))
	}
	c.running[key] = true
	if c.ok[key][seq] > 0 {
		c.replays++
	}
	for s := c.doneUpTo[key]; s < seq; s++ {
		if c.ok[key][s] > 0 {
			continue
		}
		if c.failed[key][s] {
			c.advanced[key] = append(c.advanced[key], s) // given up: must be a dead letter
			continue
		}
		c.violations = append(c.violations, fmt.Sprintf("%s: seq %d called before seq %d was ever handled", key, seq, s))
	}
	if seq > c.doneUpTo[key] {
		c.doneUpTo[key] = seq
	}
}

func (c *checker) end(key string, seq int, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.running[key] = false
	h := strconv.Itoa(seq)
	if !ok {
		h += "!"
	}
	c.history[key] = append(c.history[key], h)
	if c.failed[key] == nil {
		c.failed[key] = map[int]bool{}
		c.ok[key] = map[int]int{}
	}
	c.failed[key][seq] = !ok
	if ok {
		c.ok[key][seq]++
		for c.ok[key][c.doneUpTo[key]] > 0 {
			c.doneUpTo[key]++
		}
	}
}

// missing lists (key, seq) pairs never handled successfully, leaving out
// those in except.
func (c *checker) missing(keys []string, perKey int, except map[string]bool) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, k := range keys {
		for s := range perKey {
			if c.ok[k][s] == 0 && !except[fmt.Sprintf("e-%s-%d", k, s)] {
				out = append(out, fmt.Sprintf("e-%s-%d", k, s))
			}
		}
	}
	return out
}

// maxDelivered is the most successful calls any one record got.
func (c *checker) maxDelivered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, m := range c.ok {
		for _, v := range m {
			n = max(n, v)
		}
	}
	return n
}

// report logs the violations with the call history of their keys.
func (c *checker) report(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range c.violations {
		key, _, _ := strings.Cut(v, ":")
		t.Errorf("%s; calls of %s: %s", v, key, strings.Join(c.history[key], " "))
	}
}

func (c *checker) successes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, m := range c.ok {
		for _, v := range m {
			n += v
		}
	}
	return n
}

// handler wraps f with the checker.
func (c *checker) handler(f func(ctx context.Context, r dispatch.Record) error) dispatch.Handler {
	return func(ctx context.Context, r dispatch.Record) error {
		key, seq := keySeq(r.EventID)
		c.begin(key, seq)
		err := f(ctx, r)
		c.end(key, seq, err == nil)
		return err
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runDispatcher starts a dispatcher; the returned func stops it and waits.
func runDispatcher(t *testing.T, opts ...dispatch.Opt) (*dispatch.Dispatcher, func()) {
	t.Helper()
	d, err := dispatch.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("Run did not return within 30s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return d, stop
}

// baseOpts are options every test uses.
func baseOpts(t *testing.T, brokers []string, group string) []dispatch.Opt {
	return []dispatch.Opt{
		dispatch.WithClient(stream.ClientConfig{Brokers: brokers}),
		dispatch.WithGroup(group),
		dispatch.WithLogger(testLogger(t)),
		dispatch.WithCommitInterval(100 * time.Millisecond),
		dispatch.WithGroupTimeouts(2*time.Second, 4*time.Second),
		dispatch.WithBackoff(5*time.Millisecond, 50*time.Millisecond),
	}
}

// deadLetters reads the dead-letter topic to its end.
func deadLetters(t *testing.T, brokers []string) []stream.DeadLetter {
	t.Helper()
	dls, err := dispatch.ListDeadLetters(context.Background(), stream.ClientConfig{Brokers: brokers}, topics.DeadLetters, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []stream.DeadLetter
	for _, e := range dls {
		out = append(out, e.DeadLetter)
	}
	return out
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
