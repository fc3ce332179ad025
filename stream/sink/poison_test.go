package sink_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/sink"
)

// brokerMaxMessageBytes is Kafka's (and kfake's) default message.max.bytes.
const brokerMaxMessageBytes = 1_048_588

// producePoison produces values as invalid records of topic, through a
// client allowed batches up to the broker's limit, and returns their offsets.
func producePoison(t *testing.T, brokers []string, topic string, values ...[]byte) []int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerBatchMaxBytes(brokerMaxMessageBytes),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var offs []int64
	for i, v := range values {
		r := &kgo.Record{Topic: topic, Partition: int32(i % 2), Key: []byte("u-poison"), Value: v}
		if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatalf("produce a poison record of %d bytes: %v", len(v), err)
		}
		offs = append(offs, r.Offset)
	}
	return offs
}

// TestSinkPoisonRecordsNeverStall sends invalid records of about 1 MB and
// of the broker's maximum size among valid ones: the sink writes every
// valid row, and each poison record becomes one sink_rejects row and one
// dead letter cut to fit, whose headers give the original size and SHA-256.
func TestSinkPoisonRecordsNeverStall(t *testing.T) {
	brokers := testenv.Kafka(t, topics.All()...)
	ch := testenv.ClickHouseConn(t)
	oneMB := bytes.Repeat([]byte("x"), 999_985)
	// The largest value the broker takes in a batch of one record with
	// this key: the batch header and the record's framing take the rest.
	largest := bytes.Repeat([]byte("y"), brokerMaxMessageBytes-61-40)
	recs, w := genRecords(rand.New(rand.NewPCG(21, 22)), 4000, time.Now().Add(-time.Minute))
	produce(t, brokers, recs[:2000])
	producePoison(t, brokers, topics.Orders, oneMB, largest)
	produce(t, brokers, recs[2000:])
	w.rejects += 2
	w.total += 2

	stop := runSink(t, ch, brokers)
	waitFor(t, ch, w, time.Minute)
	stop()
	checkExact(t, ch, w)

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics.DeadLetters),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	want := map[int][]byte{len(oneMB): oneMB, len(largest): largest}
	deadline := time.Now().Add(30 * time.Second)
	for len(want) > 0 && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			dl, err := stream.ParseDeadLetter(r)
			if err != nil || !dl.Truncated {
				return
			}
			orig, ok := want[dl.ValueBytes]
			if !ok {
				return
			}
			sum := sha256.Sum256(orig)
			if dl.ValueSHA256 != hex.EncodeToString(sum[:]) || !bytes.HasPrefix(orig, dl.Value) {
				t.Errorf("dead letter of the %d-byte record: sha256 %s and a %d-byte value, want the original's sha256 and a prefix of it",
					dl.ValueBytes, dl.ValueSHA256, len(dl.Value))
			}
			if size := stream.DeadLetterSize(r); size > stream.MaxDeadLetterBytes {
				t.Errorf("dead letter of the %d-byte record is %d bytes, want at most %d", dl.ValueBytes, size, stream.MaxDeadLetterBytes)
			}
			if dl.SourceTopic != topics.Orders || dl.Reason == "" {
				t.Errorf("dead letter of the %d-byte record: source %s, reason %q", dl.ValueBytes, dl.SourceTopic, dl.Reason)
			}
			delete(want, dl.ValueBytes)
		})
	}
	for n := range want {
		t.Errorf("no dead letter for the poison record of %d bytes", n)
	}
}

// logBuffer collects a logger's output for a test to read.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSinkStopsWithinBoundWhileDeadLetterFails makes every dead letter fail
// (a dead-letter topic whose max.message.bytes is below any dead letter):
// the sink retries, logs the record's source topic, partition and offset,
// and still stops within its shutdown timeout when asked to.
func TestSinkStopsWithinBoundWhileDeadLetterFails(t *testing.T) {
	brokers := testenv.Kafka(t, topics.All()...)
	ch := testenv.ClickHouseConn(t)
	adm, err := kadm.NewOptClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	tiny := "200"
	res, err := adm.AlterTopicConfigs(context.Background(),
		[]kadm.AlterConfig{{Op: kadm.SetConfig, Name: "max.message.bytes", Value: &tiny}}, topics.DeadLetters)
	if err == nil {
		err = res[0].Err
	}
	if err != nil {
		t.Fatalf("set max.message.bytes of %s: %v", topics.DeadLetters, err)
	}
	offs := producePoison(t, brokers, topics.Orders, []byte("not json"))
	recs, _ := genRecords(rand.New(rand.NewPCG(23, 24)), 500, time.Now())
	produce(t, brokers, recs)

	var logs logBuffer
	const bound = 2 * time.Second
	stop := runSink(t, ch, brokers, sink.WithShutdownTimeout(bound), sink.WithMaxRetryBackoff(200*time.Millisecond),
		sink.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	want := "source_topic=" + topics.Orders + " source_partition=0 source_offset=" + strconv.FormatInt(offs[0], 10)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no log of the failing dead letter naming %q; logs:\n%s", want, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	start := time.Now()
	stop()
	if took := time.Since(start); took > bound+5*time.Second {
		t.Errorf("sink took %s to stop while retrying a dead letter, want about its shutdown timeout %s", took, bound)
	}
	// Nothing of the batch held back by the dead letter was committed: its
	// rows are either all written or read again by the next owner.
	if n := testenv.CountRows(t, ch, string(analytics.TableSinkRejects)); n != 0 {
		t.Errorf("sink_rejects holds %d rows while the dead letter never went out, want 0", n)
	}
}
