package main

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/surgeio/surge/stream"
)

func TestDebugSinkTimeline(t *testing.T) {
	ctx := context.Background()
	e := &env{cfg: config{partitions: 8}, log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})), machine: &machine{}}
	dir, cleanup, _ := tempDir("dbg")
	defer cleanup()
	b, _ := startBroker(ctx, e)
	defer b.Close()
	ch, err := startClickHouse(ctx, e, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.stop()
	kc, _ := rawClient(b.Addrs(), "x")
	ensureTopics(ctx, kc, stream.DefaultTopics(), 8)
	l, _ := encodeLoad(ctx, 300000)
	produceRaw(ctx, kc, stream.DefaultTopics(), l)
	res, err := timeSurgeSink(ctx, e, ch, b.Addrs(), 300000)
	t.Logf("err %v stats %+v", err, res.stats)
	for _, s := range res.drain.samples {
		t.Logf("%v %d", s.at, s.n)
	}
}
