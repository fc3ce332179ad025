package triggers

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/stream/control"
)

// Key and partition checks (control.CheckKey): the triggers meet a user's
// orders and events in one partition number and keep the user's state
// there, so a record keyed otherwise than by its user_id, or on another
// partition than murmur2 puts its key on, is evaluated against the wrong
// user state. Such a record is still evaluated (its coupon is the best
// guess, and dropping it would lose a shopper's progress silently); it is
// counted in surge_triggers_key_mismatches_total and logged at most once
// per topic and reason every 10s. The fix belongs to the producer
// (librdkafka clients: partitioner=murmur2_random).

// clientIDHeader is the record header a producer may set to its client id.
const clientIDHeader = "client_id"

type keyChecks struct {
	counts  atomic.Pointer[map[string][]int32] // topic -> counts it had
	counter *prometheus.CounterVec
	log     *slog.Logger

	mu      sync.Mutex
	clients map[string]bool
	last    map[[2]string]time.Time
}

func newKeyChecks(log *slog.Logger) *keyChecks {
	return &keyChecks{log: log, clients: map[string]bool{}, last: map[[2]string]time.Time{},
		counter: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "surge_triggers_key_mismatches_total",
			Help: "Input records whose key is not their user_id or whose partition is not murmur2(key) mod the topic's partition count (any count it had), by topic, reason and producer client id (header client_id). They are evaluated against the wrong user state: fix the producer (librdkafka: partitioner=murmur2_random)."},
			[]string{"topic", "reason", "client_id"})}
}

// refresh recomputes the partition counts of the inputs from the control
// topic's resizes (st may be nil) and the count at start.
func (k *keyChecks) refresh(st *control.State, topics []string, ids map[string]string, n int32) {
	m := map[string][]int32{}
	for _, t := range topics {
		cur := n
		if st != nil {
			for _, r := range st.Resizes {
				if r.Topic == t {
					cur = max(cur, r.New)
				}
			}
		}
		m[t] = st.Counts(t, ids[t], cur)
	}
	k.counts.Store(&m)
}

// check counts and logs rec when its key or partition does not match user.
func (k *keyChecks) check(rec *kgo.Record, user string) {
	var counts []int32
	if m := k.counts.Load(); m != nil {
		counts = (*m)[rec.Topic]
	}
	why := control.CheckKey(rec.Key, user, rec.Partition, counts)
	if why == "" {
		return
	}
	client := ""
	for _, h := range rec.Headers {
		if h.Key == clientIDHeader {
			client = string(h.Value)
		}
	}
	k.mu.Lock()
	if !k.clients[client] {
		if len(k.clients) >= 64 {
			client = "other"
		} else {
			k.clients[client] = true
		}
	}
	key := [2]string{rec.Topic, why}
	now := time.Now()
	logIt := now.Sub(k.last[key]) >= 10*time.Second
	if logIt {
		k.last[key] = now
	}
	k.mu.Unlock()
	k.counter.WithLabelValues(rec.Topic, why, client).Inc()
	if logIt {
		k.log.Warn("input record not keyed and partitioned by user_id with murmur2: evaluated against the wrong user state "+
			"(librdkafka clients: set -X partitioner=murmur2_random)",
			"topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "reason", why,
			"key", string(rec.Key), "user_id", user, "client_id", client)
	}
}

// refreshKeyChecks reads the inputs' partition counts again (at start, and
// when partitions are assigned: a resize adds some).
func (r *Runner) refreshKeyChecks() {
	var st *control.State
	if r.gate != nil {
		st = r.gate.State()
	}
	r.keys.refresh(st, r.inputs(), r.topicIDs, r.nparts)
}
