package broker

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
)

// confluentPython finds a python3 with confluent_kafka (Debian package
// python3-confluent-kafka). Missing, it fails the test under CI and skips
// it elsewhere.
func confluentPython(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if p, err := exec.LookPath(py); err == nil && exec.Command(p, "-c", "import confluent_kafka").Run() == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("python3 with confluent_kafka not found (apt-get install python3-confluent-kafka)")
	}
	t.Skip("python3-confluent-kafka not installed; under CI this fails")
	return ""
}

const confluentProduce = `
import sys, confluent_kafka
conf = {'bootstrap.servers': sys.argv[1]}
if sys.argv[3]:
    conf['partitioner'] = sys.argv[3]
p = confluent_kafka.Producer(conf)
for k in sys.argv[4:]:
    p.produce(sys.argv[2], key=k, value=k)
if p.flush(30) != 0:
    sys.exit('records left unsent')
`

// Foreign librdkafka clients put a user's records on the partition surge's
// producer does only with partitioner=murmur2_random, as the README says:
// kcat with -X partitioner=murmur2_random and confluent-kafka with
// 'partitioner': 'murmur2_random' agree with stream.Producer for every key;
// with librdkafka's default (consistent_random, CRC32) some keys land
// elsewhere.
func TestForeignClientsPartitionLikeSurge(t *testing.T) {
	kcat := kcatPath(t)
	py := confluentPython(t)
	b := startT(t)
	addr := b.Addrs()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	keys := make([]string, 40)
	for i := range keys {
		keys[i] = fmt.Sprintf("u-%d", i)
	}
	cl, err := stream.ClientConfig{Brokers: []string{addr}}.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	topics := []string{"surge-side", "kcat-murmur2", "kcat-default", "confluent-murmur2", "confluent-default"}
	if _, err := kadm.NewClient(cl).CreateTopics(ctx, 8, 1, nil, topics...); err != nil {
		t.Fatal(err)
	}

	// surge's side: the Producer writing orders of user k to surge-side.
	p, err := stream.NewProducer(stream.WithBrokers(addr),
		stream.WithTopics(stream.Topics{Orders: "surge-side", UserEvents: "surge-side", Coupons: "surge-side"}))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	want := map[string]int32{}
	for i, k := range keys {
		ack, err := p.Produce(ctx, &schemas.Order{EventID: fmt.Sprintf("ev-%d", i), OrderID: fmt.Sprintf("o-%d", i), UserID: k,
			Items: []schemas.Item{{SKU: "tv-55", Qty: 1, UnitPrice: 100}}, Amount: 100, Currency: "EUR", CreatedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		want[k] = ack.Partition
	}

	run := func(stdin string, name string, args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Stdin = strings.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
		}
	}
	var lines strings.Builder
	for _, k := range keys {
		lines.WriteString(k + ":" + k + "\n")
	}
	// The README's commands.
	run(lines.String(), kcat, "-P", "-b", addr, "-t", "kcat-murmur2", "-K:", "-X", "partitioner=murmur2_random")
	run(lines.String(), kcat, "-P", "-b", addr, "-t", "kcat-default", "-K:")
	run("", py, append([]string{"-c", confluentProduce, addr, "confluent-murmur2", "murmur2_random"}, keys...)...)
	run("", py, append([]string{"-c", confluentProduce, addr, "confluent-default", ""}, keys...)...)

	for _, topic := range topics[1:] {
		got := partitionsOf(ctx, t, cl, topic, len(keys))
		differ := 0
		for _, k := range keys {
			if got[k] != want[k] {
				differ++
			}
		}
		switch {
		case strings.HasSuffix(topic, "murmur2") && differ > 0:
			t.Errorf("%s: %d of %d keys on another partition than surge's producer puts them", topic, differ, len(keys))
		case strings.HasSuffix(topic, "default") && differ == 0:
			t.Errorf("%s: librdkafka's default partitioner agreed with surge on every key; the README's advice would be moot", topic)
		}
		t.Logf("%s: %d of %d keys on another partition than surge's", topic, differ, len(keys))
	}

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"-X partitioner=murmur2_random", "'partitioner': 'murmur2_random'"} {
		if !bytes.Contains(readme, []byte(s)) {
			t.Errorf("README.md does not say %q", s)
		}
	}
}

// partitionsOf reads n records of topic and returns each key's partition.
func partitionsOf(ctx context.Context, t *testing.T, admin *kgo.Client, topic string, n int) map[string]int32 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(admin.OptValue(kgo.SeedBrokers).([]string)...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	out := map[string]int32{}
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %s: got %d of %d keys: %v", topic, len(out), n, err)
		}
		fs.EachRecord(func(r *kgo.Record) { out[string(r.Key)] = r.Partition })
	}
	return out
}
