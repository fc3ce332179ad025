package broker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestBrokerKill9KeepsAckedRecords produces with acks=all (idempotent)
// while `surge broker` is killed with SIGKILL and restarted on the same
// data directory, four times; every record the broker acknowledged must
// be there afterwards, at the partition and offset it was acknowledged
// with. (Records written through the page cache survive the process; a
// machine crash is another matter, see the package doc.)
func TestBrokerKill9KeepsAckedRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 test is long; runs without -short (and always in CI)")
	}
	const topic = "durable"
	b := startBrokerProcess(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	adm := b.client()
	if _, err := kadm.NewClient(adm).CreateTopic(ctx, 4, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	adm.Close()

	type pos struct {
		partition int32
		offset    int64
	}
	var (
		mu     sync.Mutex
		acked  = make(map[string]pos)
		failed int
	)
	prod := b.client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	defer prod.Close()
	stop := make(chan struct{})
	produced := make(chan int)
	go func() { // produces until stop, then reports how many it sent
		n := 0
		for {
			select {
			case <-stop:
				produced <- n
				return
			default:
			}
			v := fmt.Sprintf("r-%06d", n)
			prod.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "u-%d", n%97), Value: []byte(v)}, func(r *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed++
					return
				}
				acked[v] = pos{r.Partition, r.Offset}
			})
			n++
			if n%50 == 0 {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}()

	rng := rand.New(rand.NewPCG(7, uint64(time.Now().UnixNano())))
	const kills = 4
	for range kills {
		time.Sleep(time.Duration(300+rng.IntN(900)) * time.Millisecond)
		b.kill9()
		b.start()
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	n := <-produced
	fctx, fcancel := context.WithTimeout(ctx, time.Minute)
	defer fcancel()
	if err := prod.Flush(fctx); err != nil {
		t.Fatalf("flush: %v", err)
	}

	cons := b.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cons.Close()
	mu.Lock()
	want := len(acked)
	mu.Unlock()
	got := make(map[string][]pos)
	seen := 0
	for seen < want {
		pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
		fs := cons.PollFetches(pctx)
		timedOut := pctx.Err() != nil
		pcancel()
		if timedOut {
			break // nothing more to read
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			got[string(r.Value)] = append(got[string(r.Value)], pos{r.Partition, r.Offset})
			seen++
		})
	}
	lost, moved, dups := 0, 0, 0
	for v, p := range acked {
		ps := got[v]
		switch {
		case len(ps) == 0:
			lost++
		case ps[0] != p:
			moved++
		}
		if len(ps) > 1 {
			dups++
		}
	}
	if lost > 0 || moved > 0 {
		t.Errorf("of %d acknowledged records, %d are missing and %d are not at their acknowledged offset", want, lost, moved)
	}
	if want < 1000 {
		t.Errorf("only %d records acknowledged across %d restarts; want a real load", want, kills)
	}
	t.Logf("%d kill -9s of surge broker: %d records sent, %d acknowledged (all kept), %d failed, %d read back, %d acknowledged records duplicated",
		kills, n, want, failed, seen, dups)
}
