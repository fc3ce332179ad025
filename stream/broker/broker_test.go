package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func startT(t *testing.T, opts ...Opt) *Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := Start(ctx, opts...)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

func newClient(t *testing.T, b *Broker, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addrs()...)}, opts...)...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

type rec struct {
	key, value string
	partition  int32
	offset     int64
}

func TestPersistAcrossRestart(t *testing.T) {
	for _, sync := range []bool{false, true} {
		t.Run(fmt.Sprintf("sync=%v", sync), func(t *testing.T) {
			testPersistAcrossRestart(t, sync)
		})
	}
}

func testPersistAcrossRestart(t *testing.T, sync bool) {
	const (
		topic = "orders"
		n     = 1000
	)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	b1 := startT(t, WithDataDir(dir), WithPartitions(4), WithSyncWrites(sync))
	prod := newClient(t, b1,
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotent is kgo's default
		kgo.AllowAutoTopicCreation(),
		kgo.DefaultProduceTopic(topic),
	)
	produced := make(map[string]rec, n)
	for i := range n {
		r := &kgo.Record{
			Key:   fmt.Appendf(nil, "user-%d", i%37),
			Value: fmt.Appendf(nil, "value-%d", i),
		}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		produced[string(r.Value)] = rec{string(r.Key), string(r.Value), r.Partition, r.Offset}
	}
	prod.Close()
	b1.Close()
	b1.Close() // idempotent

	b2 := startT(t, WithDataDir(dir), WithPartitions(4))
	cons := newClient(t, b2,
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	got := make(map[string]rec, n)
	for len(got) < n {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d records before timeout, want %d", len(got), n)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s/%d: %v", topic, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			got[string(r.Value)] = rec{string(r.Key), string(r.Value), r.Partition, r.Offset}
		})
	}
	for v, want := range produced {
		if g := got[v]; g != want {
			t.Errorf("record %s: got %+v, want %+v", v, g, want)
		}
	}
	if len(got) != n {
		t.Errorf("got %d distinct records, want %d", len(got), n)
	}
}

func TestLoggerBridge(t *testing.T) {
	var buf bytes.Buffer
	l := newLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Logf(kfake.LogLevelDebug, "debug %d", 1)
	l.Logf(kfake.LogLevelInfo, "request %d", 2)
	l.Logf(kfake.LogLevelWarn, "slow fsync %dms", 3)
	l.Logf(kfake.LogLevelError, "persist: %v", "disk full")
	got := buf.String()
	for _, want := range []string{`level=WARN msg="slow fsync 3ms" component=broker`, `level=ERROR msg="persist: disk full"`} {
		if !strings.Contains(got, want) {
			t.Errorf("got log %q, want it to contain %q", got, want)
		}
	}
	if strings.Contains(got, "debug 1") || strings.Contains(got, "request 2") {
		t.Errorf("got log %q, want debug and info lines dropped", got)
	}
}

func TestDataDirLocked(t *testing.T) {
	dir := t.TempDir()
	startT(t, WithDataDir(dir))
	_, err := Start(context.Background(), WithDataDir(dir))
	if !errors.Is(err, ErrDataDirLocked) {
		t.Fatalf("second Start on the same dir: got error %v, want %v", err, ErrDataDirLocked)
	}
}

func TestAddrs(t *testing.T) {
	free := freePort(t)
	tests := []struct {
		name     string
		opts     []Opt
		wantHost string
		wantPort string
	}{
		{"default loopback any port", nil, "127.0.0.1", ""},
		{"explicit port", []Opt{WithAddr("127.0.0.1:" + free)}, "127.0.0.1", free},
		{"wildcard advertises loopback", []Opt{WithAddr("0.0.0.0:0")}, "127.0.0.1", ""},
		{"advertised name kept", []Opt{WithAdvertisedAddr("localhost:19092")}, "localhost", "19092"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startT(t, tt.opts...)
			addrs := b.Addrs()
			if len(addrs) != 1 {
				t.Fatalf("got %d addrs %v, want 1", len(addrs), addrs)
			}
			host, port, err := net.SplitHostPort(addrs[0])
			if err != nil {
				t.Fatalf("addr %q: %v", addrs[0], err)
			}
			if host != tt.wantHost {
				t.Errorf("got host %q, want %q", host, tt.wantHost)
			}
			if tt.wantPort != "" && port != tt.wantPort {
				t.Errorf("got port %q, want %q", port, tt.wantPort)
			}
			if port == "0" {
				t.Errorf("got port 0, want the bound port")
			}
		})
	}
}

func TestStartErrors(t *testing.T) {
	tests := []struct {
		name string
		opts []Opt
		want string
	}{
		{"bad addr", []Opt{WithAddr("nonsense")}, "listen address"},
		{"bad partitions", []Opt{WithPartitions(0)}, "default partitions"},
		{"bad advertised", []Opt{WithAdvertisedAddr("x")}, "advertised address"},
		{"reserved sasl user", []Opt{WithSASLUser("plain", internalUser, "pw")}, "reserved for the broker's own client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Start(context.Background(), tt.opts...)
			if err == nil {
				b.Close()
				t.Fatalf("got no error, want one containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}
