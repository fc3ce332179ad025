package broker

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadata asks b for topics with auto-creation on, as a producer does.
func metadata(t *testing.T, b *Broker, topics ...string) map[string]int16 {
	t.Helper()
	return metadataWith(t, newClient(t, b), topics...)
}

func metadataWith(t *testing.T, cl *kgo.Client, topics ...string) map[string]int16 {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = true
	for _, tp := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(tp)
		req.Topics = append(req.Topics, rt)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("metadata %v: %v", topics, err)
	}
	got := make(map[string]int16)
	for _, rt := range resp.Topics {
		got[*rt.Topic] = rt.ErrorCode
	}
	return got
}

func listTopics(t *testing.T, b *Broker) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tds, err := kadm.NewClient(newClient(t, b)).ListTopicsWithInternal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return tds.Names()
}

func TestAutoCreateRefusesInternalNames(t *testing.T) {
	tests := []struct {
		name    string
		topics  []string
		created []string
	}{
		{"internal alone", []string{"__consumer_offsets"}, nil},
		{"ordinary alone", []string{"orders"}, []string{"orders"}},
		{"mixed request", []string{"__transaction_state", "orders", "__x"}, []string{"orders"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startT(t)
			got := metadata(t, b, tt.topics...)
			for _, tp := range tt.topics {
				want := kerr.UnknownTopicOrPartition.Code
				if slices.Contains(tt.created, tp) {
					want = 0
				}
				if got[tp] != want {
					t.Errorf("topic %s: got error code %d, want %d", tp, got[tp], want)
				}
			}
			if names := listTopics(t, b); !slices.Equal(names, tt.created) {
				t.Errorf("got topics %v, want %v", names, tt.created)
			}
		})
	}
}

// TestLibrdkafkaMetadataCreatesNoInternalTopic asks for __consumer_offsets
// the way Burrow's and kcat's librdkafka does; the broker must not create
// it, while an ordinary name is still auto-created.
func TestLibrdkafkaMetadataCreatesNoInternalTopic(t *testing.T) {
	kcat := kcatPath(t)
	b := startT(t)
	addr := b.Addrs()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	out, _ := exec.CommandContext(ctx, kcat, "-L", "-b", addr, "-t", "__consumer_offsets").CombinedOutput()
	if strings.Contains(string(out), `"__consumer_offsets" with 8 partitions`) {
		t.Errorf("kcat -L -t __consumer_offsets created it:\n%s", out)
	}

	py := pythonWithConfluentKafka(t)
	script := `
import sys
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1]})
for name in sys.argv[2:]:
    md = p.list_topics(topic=name, timeout=10)
    t = md.topics[name]
    print(name, len(t.partitions), t.error.code() if t.error else 0)
`
	cmd := exec.CommandContext(ctx, py, "-c", script, addr, "__consumer_offsets", "py-topic")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pyOut, err := cmd.Output()
	if err != nil {
		t.Fatalf("python confluent-kafka: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(string(pyOut), "py-topic 8 0") {
		t.Errorf("got python output %q, want py-topic auto-created with 8 partitions", pyOut)
	}
	if names := listTopics(t, b); !slices.Equal(names, []string{"py-topic"}) {
		t.Errorf("got topics %v after librdkafka metadata requests, want only [py-topic]", names)
	}
}

// pythonWithConfluentKafka finds a python3 with the confluent_kafka module
// (Debian python3-confluent-kafka installs it for /usr/bin/python3, which
// a python3 earlier in PATH may not see). Missing, it fails under CI and
// skips elsewhere.
func pythonWithConfluentKafka(t *testing.T) string {
	t.Helper()
	var tried []string
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		p, err := exec.LookPath(py)
		if err != nil {
			continue
		}
		if err := exec.Command(p, "-c", "import confluent_kafka").Run(); err == nil {
			return p
		}
		tried = append(tried, p)
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("no python3 with confluent_kafka (tried %v; apt-get install python3-confluent-kafka)", tried)
	}
	t.Skipf("no python3 with confluent_kafka (tried %v); under CI this fails", tried)
	return ""
}

// TestAutoCreateGuardOutlivesRotation checks that the guard still holds
// after it has been replaced by a fresh one (every controlRotate metadata
// requests).
func TestAutoCreateGuardOutlivesRotation(t *testing.T) {
	b := startT(t)
	cl := newClient(t, b)
	for i := range 2*controlRotate + 3 {
		if got := metadataWith(t, cl, "__consumer_offsets"); got["__consumer_offsets"] != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("request %d: got error code %d, want %d", i, got["__consumer_offsets"], kerr.UnknownTopicOrPartition.Code)
		}
	}
	if names := listTopics(t, b); len(names) != 0 {
		t.Errorf("got topics %v, want none", names)
	}
}
