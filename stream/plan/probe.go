package plan

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/stream"
)

// probePrefix starts the name of every probe topic, so that a probe topic
// left behind by a killed probe is recognisable (and deletable).
const probePrefix = "surge-probe-"

// Probe defaults.
const (
	DefaultProbeDuration = 5 * time.Second
	DefaultProbeMaxBytes = 512 << 20
)

// ProbeProgress is reported while a probe runs.
type ProbeProgress struct {
	Phase    string        // "produce" or "consume"
	Records  int64         // records acked (produce) or read (consume) so far
	Elapsed  time.Duration // since the phase began
	Duration time.Duration // the produce phase's budget
}

type probeCfg struct {
	duration    time.Duration
	recordBytes int
	maxBytes    int64
	replication int16
	progress    func(ProbeProgress)
	logger      *slog.Logger
}

// ProbeOpt configures Probe.
type ProbeOpt func(*probeCfg)

// WithProbeDuration bounds the produce phase; default DefaultProbeDuration.
// The consume phase reads back what was produced, bounded by three times
// this (at least 10 s).
func WithProbeDuration(d time.Duration) ProbeOpt { return func(c *probeCfg) { c.duration = d } }

// WithProbeRecordBytes sets the size of the probe's record values; default
// DefaultRecordBytes. Use the forecast's record size.
func WithProbeRecordBytes(n int) ProbeOpt { return func(c *probeCfg) { c.recordBytes = n } }

// WithProbeMaxBytes ends the produce phase early once this many value
// bytes are acked, so that a fast cluster is not filled; default
// DefaultProbeMaxBytes. The rate is measured over the time actually spent.
func WithProbeMaxBytes(n int64) ProbeOpt { return func(c *probeCfg) { c.maxBytes = n } }

// WithProbeReplication sets the probe topic's replication factor; default
// -1, the broker's default. Use the pipeline topics' factor: acks=all
// waits for every in-sync replica, so it sets the produce rate.
func WithProbeReplication(r int16) ProbeOpt { return func(c *probeCfg) { c.replication = r } }

// WithProbeProgress has fn called about every 250 ms while the probe runs,
// from a goroutine of the probe's; default none.
func WithProbeProgress(fn func(ProbeProgress)) ProbeOpt { return func(c *probeCfg) { c.progress = fn } }

// WithProbeLogger sets the logger; default slog.Default().
func WithProbeLogger(l *slog.Logger) ProbeOpt { return func(c *probeCfg) { c.logger = l } }

// Probe measures what one partition of the cluster takes in and what one
// consumer reads from it. It creates a topic named "surge-probe-<random>"
// with one partition, produces records of the configured size to it at
// full speed with acks=all (idempotent, lz4, like the Producer) for the
// probe duration, reads them all back with one consumer, and deletes the
// topic, also when ctx is cancelled. The result's Source is SourceProbe.
//
// A deletion failure is returned (with the measured capacity) so the
// caller can say which topic to delete by hand.
func Probe(ctx context.Context, cc stream.ClientConfig, opts ...ProbeOpt) (Capacity, error) {
	cfg := probeCfg{duration: DefaultProbeDuration, recordBytes: DefaultRecordBytes, maxBytes: DefaultProbeMaxBytes, replication: -1, logger: slog.Default()}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.duration <= 0 || cfg.recordBytes <= 0 || cfg.maxBytes <= 0 {
		return Capacity{}, errors.New("probe: duration, record size and byte budget must be above 0")
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	topic := probePrefix + hex.EncodeToString(rnd[:])

	admCl, err := cc.NewClient()
	if err != nil {
		return Capacity{}, fmt.Errorf("probe: create kafka client: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	resp, err := adm.CreateTopic(ctx, 1, cfg.replication, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return Capacity{}, fmt.Errorf("probe: create topic %s: %w", topic, err)
	}
	cfg.logger.Debug("probe topic created", "topic", topic)

	c, perr := probeTopic(ctx, cc, topic, cfg)

	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	dresp, derr := adm.DeleteTopic(dctx, topic)
	if derr == nil {
		derr = dresp.Err
	}
	if derr != nil {
		derr = fmt.Errorf("probe: delete topic %s (delete it by hand): %w", topic, derr)
	}
	return c, errors.Join(perr, derr)
}

func probeTopic(ctx context.Context, cc stream.ClientConfig, topic string, cfg probeCfg) (Capacity, error) {
	var (
		phase   atomic.Value
		count   atomic.Int64
		started atomic.Int64 // unix nanos the current phase began
	)
	phase.Store("produce")
	started.Store(time.Now().UnixNano())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if cfg.progress != nil {
		wg.Add(1)
		go func() { // ends when stop is closed, below
			defer wg.Done()
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					cfg.progress(ProbeProgress{Phase: phase.Load().(string), Records: count.Load(),
						Elapsed: time.Since(time.Unix(0, started.Load())), Duration: cfg.duration})
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()

	n, produceTook, err := probeProduce(ctx, cc, topic, cfg, &count)
	if err != nil {
		return Capacity{}, err
	}
	count.Store(0)
	started.Store(time.Now().UnixNano())
	phase.Store("consume")
	consumeTook, err := probeConsume(ctx, cc, topic, n, max(3*cfg.duration, 10*time.Second), &count)
	if err != nil {
		return Capacity{}, err
	}
	size := float64(cfg.recordBytes)
	c := Capacity{
		ProduceRecordsPerSec: float64(n) / produceTook.Seconds(),
		ConsumeRecordsPerSec: float64(n) / consumeTook.Seconds(),
		RecordBytes:          size,
		Source:               SourceProbe,
	}
	c.ProduceBytesPerSec = c.ProduceRecordsPerSec * size
	c.ConsumeBytesPerSec = c.ConsumeRecordsPerSec * size
	c.Detail = fmt.Sprintf("probe topic %s (1 partition, deleted): %d records of %d bytes produced in %s with acks=all, read back in %s",
		topic, n, cfg.recordBytes, produceTook.Round(time.Millisecond), consumeTook.Round(time.Millisecond))
	return c, nil
}

// probeProduce writes records to topic at full speed until the duration or
// byte budget is spent, and returns how many were acked and how long it
// took until the last ack.
func probeProduce(ctx context.Context, cc stream.ClientConfig, topic string, cfg probeCfg, acked *atomic.Int64) (int64, time.Duration, error) {
	cl, err := cc.NewClient(
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		kgo.ProducerLinger(5*time.Millisecond),
	)
	if err != nil {
		return 0, 0, fmt.Errorf("probe: create producer: %w", err)
	}
	defer cl.Close()
	values, keys := probeValues(cfg.recordBytes)
	var (
		firstErr atomic.Value
		maxRecs  = max(1, cfg.maxBytes/int64(cfg.recordBytes))
	)
	cb := func(_ *kgo.Record, err error) {
		if err != nil {
			firstErr.CompareAndSwap(nil, err)
			return
		}
		acked.Add(1)
	}
	start := time.Now()
	deadline := start.Add(cfg.duration)
	var sent int64
	for sent < maxRecs && ctx.Err() == nil && firstErr.Load() == nil {
		if sent%1024 == 0 && time.Now().After(deadline) {
			break
		}
		i := sent % int64(len(values))
		cl.Produce(ctx, &kgo.Record{Key: keys[i], Value: values[i]}, cb)
		sent++
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, 0, fmt.Errorf("probe: flush: %w", err)
	}
	took := time.Since(start)
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, 0, fmt.Errorf("probe: produce to %s: %w", topic, err)
	}
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	n := acked.Load()
	if n == 0 {
		return 0, 0, fmt.Errorf("probe: no record acked in %s", cfg.duration)
	}
	return n, took, nil
}

// probeConsume reads want records from the start of topic's partition 0
// and returns how long that took.
func probeConsume(ctx context.Context, cc stream.ClientConfig, topic string, want int64, limit time.Duration, read *atomic.Int64) (time.Duration, error) {
	cl, err := cc.NewClient(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {0: kgo.NewOffset().AtStart()},
	}))
	if err != nil {
		return 0, fmt.Errorf("probe: create consumer: %w", err)
	}
	defer cl.Close()
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	start := time.Now()
	for read.Load() < want {
		fs := cl.PollFetches(cctx)
		if err := cctx.Err(); err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, fmt.Errorf("probe: read back %d of %d records within %s", read.Load(), want, limit)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = errors.Join(ferr, err) })
		if ferr != nil {
			return 0, fmt.Errorf("probe: consume %s: %w", topic, ferr)
		}
		read.Add(int64(fs.NumRecords()))
	}
	return time.Since(start), nil
}

// probeValues returns 1024 distinct record values of size bytes that look
// like surge's JSON events, and 1024 user keys, so that lz4 compresses them about as well as
// real traffic rather than collapsing identical records.
func probeValues(size int) (values, keys [][]byte) {
	const template = `{"kind":"order","v":1,"event_id":"ev-%s","user_id":"u-%s","order_id":"o-%s","amount":%d,"currency":"EUR","campaign_id":"black-friday","items":[{"sku":"sku-%s","qty":1,"price":%d}],"created_at":"2026-11-27T10:00:00Z"}`
	out, keys := make([][]byte, 1024), make([][]byte, 1024)
	var rnd [16]byte
	for i := range out {
		_, _ = rand.Read(rnd[:])
		h := hex.EncodeToString(rnd[:])
		s := fmt.Sprintf(template, h, h[:8], h[8:20], 1000+i, h[20:26], 1000+i)
		for len(s) < size {
			s += ` ` + strconv.Itoa(i) + h
		}
		out[i] = []byte(s[:size])
		keys[i] = []byte("u-" + h[:8])
	}
	return out, keys
}
