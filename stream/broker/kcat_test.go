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
)

// kcatPath finds kcat (Debian package kcat). Missing kcat fails the test
// under CI and skips it elsewhere.
func kcatPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("kcat not found (apt-get install kcat): %v", err)
		}
		t.Skip("kcat not installed (apt-get install kcat); under CI this fails")
	}
	return p
}

// TestKcat checks that a stock librdkafka client (kcat 1.7 / librdkafka
// 2.0) produces to and consumes from the broker with default settings:
// ApiVersions negotiation works, no broker.version.fallback is needed.
func TestKcat(t *testing.T) {
	kcat := kcatPath(t)
	b := startT(t)
	addr := b.Addrs()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	run := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, kcat, args...)
		cmd.Stdin = strings.NewReader(stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("kcat %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return stdout.String()
	}

	run("u1:first\nu2:second\nu1:third\n", "-P", "-b", addr, "-t", "kcat-topic", "-K:")
	out := run("", "-C", "-b", addr, "-t", "kcat-topic", "-e", "-q", "-f", "%k=%s\n")

	// Partitions are read in no fixed order, but one key's records
	// share a partition and keep their order.
	got := strings.Split(strings.TrimSpace(out), "\n")
	var u1 []string
	for _, l := range got {
		if strings.HasPrefix(l, "u1=") {
			u1 = append(u1, l)
		}
	}
	if want := []string{"u1=first", "u1=third"}; !slices.Equal(u1, want) {
		t.Errorf("got u1 records %q, want %q in order", u1, want)
	}
	slices.Sort(got)
	if want := []string{"u1=first", "u1=third", "u2=second"}; !slices.Equal(got, want) {
		t.Errorf("got records %q, want %q", got, want)
	}

	// Metadata listing shows the auto-created topic with the default
	// partition count.
	meta := run("", "-L", "-b", addr, "-t", "kcat-topic")
	if !strings.Contains(meta, `topic "kcat-topic" with 8 partitions`) {
		t.Errorf("got metadata\n%s\nwant it to list kcat-topic with 8 partitions", meta)
	}
}
