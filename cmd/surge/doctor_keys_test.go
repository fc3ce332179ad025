package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/surgeio/surge/analytics"
	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
)

// TestDoctorKeying: records produced by kcat with librdkafka's default
// partitioner (CRC32) are reported with the partitioner fix; a topic
// written by murmur2 is ok.
func TestDoctorKeying(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		testenv.Unavailable(t, "kcat not installed (make deps): "+err.Error())
	}
	t.Chdir(t.TempDir())
	topics := stream.DefaultTopics()
	brokers := testenv.KafkaPartitions(t, 4, topics.All()...)
	var lines []string
	for i := range 40 {
		user := fmt.Sprintf("u-%d", i)
		v, err := schemas.Encode(&schemas.UserEvent{EventID: schemas.NewEventID(), UserID: user, SessionID: "s",
			Type: schemas.EventPageView, CampaignID: "c", TS: time.Now().UTC()})
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, user+"\t"+string(v))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-P", "-b", brokers[0], "-t", topics.UserEvents, "-K", "\t")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat: %v\n%s", err, stderr.String())
	}

	out, _, _ := run(t, "doctor", "--brokers", strings.Join(brokers, ","), "--data-dir", t.TempDir(), "--output", "json")
	var rep doctorReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	var seen bool
	for _, c := range rep.Checks {
		switch c.Name {
		case "keying " + topics.UserEvents:
			seen = true
			if c.Status != analytics.CheckWarn || !strings.Contains(c.Message, "partition") ||
				!strings.Contains(c.Fix, "partitioner=murmur2_random") {
				t.Errorf("keying check: got %+v, want a warning naming the partition mismatch with the murmur2_random fix", c)
			}
		case "keying " + topics.Orders:
			if c.Status != analytics.CheckOK {
				t.Errorf("keying of the empty orders topic: got %+v, want ok", c)
			}
		}
	}
	if !seen {
		t.Errorf("no keying check for %s in %+v", topics.UserEvents, rep.Checks)
	}
}
