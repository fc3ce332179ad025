package sink

import (
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream/control"
)

// Key and partition checks. surge keys every record by its user_id and
// partitions by murmur2 of the key, like the Java client and franz-go
// (stream/control.KeyPartition). A record whose key is not its user_id, or
// that sits on another partition than murmur2 puts its key on under one of
// the counts its topic had (a resize moves a key from p only to p+k*old),
// came from a producer that breaks per-user order: librdkafka clients
// (kcat, confluent-kafka) partition with CRC32 unless told
// partitioner=murmur2_random.
//
// Such a record is stored like any other and counted: it is a valid event,
// and dead-lettering it would take a real order out of the numbers while
// the harm (order and co-partitioning downstream) is already done on the
// topic. The fix belongs to the producer; the metric, the alert
// (SurgeMisroutedRecords) and surge doctor name it.

// Mismatch reasons, the "reason" label of surge_sink_key_mismatches_total.
const (
	MismatchNoKey     = control.MismatchNoKey
	MismatchKey       = control.MismatchKey
	MismatchPartition = control.MismatchPartition
)

// ClientIDHeader is the record header a producer may set to its client id;
// mismatches are counted per its value ("" when absent).
const ClientIDHeader = "client_id"

// maxClientLabels bounds the distinct client ids the metric keeps; the
// rest are counted as "other".
const maxClientLabels = 64

func newMismatchCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "surge_sink_key_mismatches_total",
		Help: "Records whose key is not their user_id or whose partition is not murmur2(key) mod the topic's partition count (any count it had), by topic, reason and producer client id (header client_id). Fix the producer: librdkafka clients need partitioner=murmur2_random.",
	}, []string{"topic", "reason", "client_id"})
}

// keyCheck returns why r's key or partition does not match rec, or "".
func keyCheck(l topicLayout, r *kgo.Record, rec schemas.Record, userHash uint32) string {
	return control.CheckKeyHashed(r.Key, rec.Key(), userHash, r.Partition, l.counts)
}

// mismatchLog counts mismatches and logs them with provenance, at most one
// line per topic and reason every interval (with the count left out).
type mismatchLog struct {
	log      *slog.Logger
	counter  *prometheus.CounterVec
	interval time.Duration

	mu      sync.Mutex
	clients map[string]bool
	last    map[[2]string]time.Time
	skipped map[[2]string]int
}

func newMismatchLog(log *slog.Logger, counter *prometheus.CounterVec) *mismatchLog {
	return &mismatchLog{log: log, counter: counter, interval: 10 * time.Second,
		clients: map[string]bool{}, last: map[[2]string]time.Time{}, skipped: map[[2]string]int{}}
}

func clientID(r *kgo.Record) string {
	for _, h := range r.Headers {
		if h.Key == ClientIDHeader {
			return string(h.Value)
		}
	}
	return ""
}

// record counts one mismatch of r and logs it unless one of its topic and
// reason was logged within the interval.
func (m *mismatchLog) record(r *kgo.Record, rec schemas.Record, l topicLayout, reason string) {
	client := clientID(r)
	m.mu.Lock()
	if !m.clients[client] {
		if len(m.clients) >= maxClientLabels {
			client = "other"
		} else {
			m.clients[client] = true
		}
	}
	k := [2]string{r.Topic, reason}
	now := time.Now()
	logIt := now.Sub(m.last[k]) >= m.interval
	skipped := m.skipped[k]
	if logIt {
		m.last[k], m.skipped[k] = now, 0
	} else {
		m.skipped[k]++
	}
	m.mu.Unlock()
	m.counter.WithLabelValues(r.Topic, reason, client).Inc()
	if !logIt {
		return
	}
	attrs := []any{"topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "reason", reason,
		"key", string(r.Key), "user_id", rec.Key(), "client_id", client, "similar_not_logged", skipped}
	if reason == MismatchPartition && l.current > 0 {
		attrs = append(attrs, "murmur2_partition", control.KeyPartition(r.Key, l.current), "partitions", l.current)
	}
	m.log.Warn("record not keyed and partitioned by user_id with murmur2; stored, but per-user order and co-partitioning break "+
		"(librdkafka clients: set -X partitioner=murmur2_random)", attrs...)
}
