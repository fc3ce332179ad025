package sink_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream/control"
	"github.com/surgeio/surge/stream/sink"
)

// kcatPath finds kcat (make deps installs it); missing, the test fails
// under CI and is skipped elsewhere.
func kcatPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("kcat")
	if err != nil {
		testenv.Unavailable(t, "kcat not installed (make deps): "+err.Error())
	}
	return p
}

// kcatProduce produces key<TAB>value lines with kcat's default (CRC32,
// consistent_random) partitioner, as a librdkafka client does.
func kcatProduce(t *testing.T, kcat, broker, topic string, lines []string, extra ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append([]string{"-P", "-b", broker, "-t", topic, "-K", "\t"}, extra...)
	cmd := exec.CommandContext(ctx, kcat, args...)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
}

func userEvent(t *testing.T, user string) []byte {
	t.Helper()
	v, err := schemas.Encode(&schemas.UserEvent{EventID: schemas.NewEventID(), UserID: user, SessionID: "s",
		Type: schemas.EventAddToCart, SKU: "sku-1", CampaignID: "c", TS: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// counterSum sums a counter vector's samples whose labels include match.
func counterSum(t *testing.T, reg *prometheus.Registry, name string, match map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := match[l.GetName()]; ok && v != l.GetValue() {
					continue metric
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// TestSinkKcatCopiesAndMisrouting: records re-sent with kcat (default
// partitioner, so mostly on another partition than murmur2's) are still
// dropped as copies; kcat's records, records keyed by something else than
// their user_id and records without a key are stored and counted as
// mismatches by reason.
func TestSinkKcatCopiesAndMisrouting(t *testing.T) {
	kcat := kcatPath(t)
	const parts = 4
	brokers := testenv.KafkaPartitions(t, parts, topics.All()...)
	ch := testenv.ClickHouseConn(t)
	w := newWant()
	var good []*kgo.Record
	for i := range 200 {
		user := fmt.Sprintf("u-%d", i%60)
		good = append(good, &kgo.Record{Topic: topics.UserEvents, Key: []byte(user), Value: userEvent(t, user)})
	}
	// Records keyed otherwise (stored, counted): another key, no key.
	var odd []*kgo.Record
	for i := range 5 {
		odd = append(odd, &kgo.Record{Topic: topics.UserEvents, Key: []byte("not-the-user"), Value: userEvent(t, fmt.Sprintf("u-%d", i))})
	}
	for i := range 2 {
		odd = append(odd, &kgo.Record{Topic: topics.UserEvents, Value: userEvent(t, fmt.Sprintf("u-%d", i))})
	}
	produce(t, brokers, append(good, odd...))
	reg := prometheus.NewRegistry()
	stop := runSink(t, ch, brokers, sink.WithRegisterer(reg))
	w.rows[analytics.TableUserEvents], w.total = uint64(len(good)+len(odd)), uint64(len(good)+len(odd))
	waitFor(t, ch, w, time.Minute)

	// kcat re-sends 50 stored events and sends 20 new ones.
	var lines []string
	for _, r := range good[:50] {
		lines = append(lines, string(r.Key)+"\t"+string(r.Value))
	}
	for i := range 20 {
		user := fmt.Sprintf("k-%d", i)
		lines = append(lines, user+"\t"+string(userEvent(t, user)))
	}
	kcatProduce(t, kcat, brokers[0], topics.UserEvents, lines)
	w.dups, w.total = 50, w.total+70
	w.rows[analytics.TableUserEvents] += 20
	waitFor(t, ch, w, time.Minute)
	stop()
	checkExact(t, ch, w)
	reconcile(t, brokers, ch)

	// Count how many of kcat's records murmur2 would have put elsewhere.
	var misplaced int
	rows, err := ch.DB().Query(context.Background(), "SELECT user_id, kafka_partition FROM user_events WHERE user_id LIKE 'k-%'")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var u string
		var p int32
		if err := rows.Scan(&u, &p); err != nil {
			t.Fatal(err)
		}
		if u != "" && control.KeyPartition([]byte(u), parts) != p {
			misplaced++
		}
	}
	rows.Close()
	var dupMisplaced uint64
	if err := ch.DB().QueryRow(context.Background(), "SELECT count() FROM sink_duplicates WHERE kafka_partition != original_partition").Scan(&dupMisplaced); err != nil {
		t.Fatal(err)
	}
	misplaced += int(dupMisplaced)
	if misplaced == 0 {
		t.Fatal("kcat put every record on murmur2's partition: the test shows nothing; change the keys")
	}
	const name = "surge_sink_key_mismatches_total"
	if got := counterSum(t, reg, name, map[string]string{"reason": sink.MismatchPartition}); got != float64(misplaced) {
		t.Errorf("partition mismatches: got %v, want %d (kcat records off murmur2's partition)", got, misplaced)
	}
	if got := counterSum(t, reg, name, map[string]string{"reason": sink.MismatchKey}); got != 5 {
		t.Errorf("key mismatches: got %v, want 5", got)
	}
	if got := counterSum(t, reg, name, map[string]string{"reason": sink.MismatchNoKey}); got != 2 {
		t.Errorf("records without key: got %v, want 2", got)
	}
	if got := counterSum(t, reg, "surge_sink_duplicates_total", map[string]string{"topic": topics.UserEvents}); got != 50 {
		t.Errorf("surge_sink_duplicates_total{topic=%q}: got %v, want 50", topics.UserEvents, got)
	}
}
