package stream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/surgeio/surge/stream/control"
)

// Resize protocol, producer side (see package control for the whole).
//
// Every record the Producer hands its client is counted in one of two
// in-flight counters, chosen by the switch epoch's parity at that moment
// (read again after the count; if a switch bumped it in between, the count
// moves to the new epoch's counter), and uncounted in its promise: two
// atomic loads and two atomic adds per record. A switch to a topic's new partition count (1) waits until the
// client's cached metadata holds the new partitions
// (kgo's Client.PartitionLeader reads the same per-topic partitions that
// Produce partitions with, and a metadata update never shrinks them), then
// (2) bumps the epoch, then (3) waits until the old epoch's counter is
// zero. A record counted in the new epoch was handed to the client after
// (1), so kgo partitioned it with the new count: StickyKeyPartitioner(nil)
// maps a keyed record to murmur2(key)&0x7fffffff mod len(partitions) of
// the metadata it loads at Produce. A record counted in the old epoch may
// have been partitioned with the old count, and (3) waits for its ack, so
// it sits below the end offsets the barrier takes afterwards.

// JoinResizes makes the Producer take part in order-safe partition
// resizes (see package control). It joins the control topic
// (control.DefaultTopic, or WithControlTopic; created if missing) and
// returns once joined, or with ctx's error or the reason it could not
// join. From then on the Producer heartbeats, and when a resize of any
// topic begins it switches to the new partition count at once and acks,
// which lets the resize's barrier cover every record it partitioned with
// the old count.
//
// It is an explicit step, not part of NewProducer, because it does network
// I/O (and may wait for the control topic to be created). A Producer that
// has not joined writes as before, but a resize that runs meanwhile
// cannot keep per-key order for its records: call JoinResizes before
// producing when topics may be resized (surge's own commands do). Calling
// it again after it succeeded does nothing.
func (p *Producer) JoinResizes(ctx context.Context) error {
	p.joinMu.Lock()
	defer p.joinMu.Unlock()
	if p.ctl.Load() != nil {
		return nil
	}
	if p.closed.Load() {
		return errors.New("join resizes: producer closed")
	}
	opts := clusterOpts(&p.cfg, p.cl)
	if opts == nil {
		return errors.New("join resizes: no seed brokers known for the shared client")
	}
	if p.cfg.client == nil {
		opts = append(opts, kgo.ClientID(p.cfg.clientID+"-control"))
	}
	part, err := control.Join(ctx, control.ParticipantConfig{
		Topic:      p.cfg.controlTopic,
		ClientOpts: opts,
		Name:       p.cfg.clientID,
		Topics:     p.topics.All(),
		Logger:     p.log,
		Switch:     p.switchTo,
	})
	if err != nil {
		return fmt.Errorf("join resizes: %w", err)
	}
	p.ctl.Store(part)
	return nil
}

// clusterOpts are the options that reach the Producer's cluster: for its
// own client the connection settings it was made with (without producer
// tuning), for a shared client that client's seed brokers, dialer, TLS and
// SASL settings.
func clusterOpts(cfg *producerConfig, cl *kgo.Client) []kgo.Opt {
	if cfg.client == nil {
		opts := ClientConfig{Brokers: cfg.brokers, Logger: cfg.logger}.Opts()
		return append(opts, cfg.clientOpts...)
	}
	seeds, _ := cl.OptValue(kgo.SeedBrokers).([]string)
	if len(seeds) == 0 {
		return nil
	}
	opts := []kgo.Opt{kgo.SeedBrokers(seeds...)}
	if d, ok := cl.OptValue(kgo.Dialer).(func(context.Context, string, string) (net.Conn, error)); ok && d != nil {
		opts = append(opts, kgo.Dialer(d))
	}
	if t, ok := cl.OptValue(kgo.DialTLSConfig).(*tls.Config); ok && t != nil {
		opts = append(opts, kgo.DialTLSConfig(t))
	}
	if ms, ok := cl.OptValue(kgo.SASL).([]sasl.Mechanism); ok && len(ms) > 0 {
		opts = append(opts, kgo.SASL(ms...))
	}
	return opts
}

// switchTo is the Producer's control.SwitchFunc.
func (p *Producer) switchTo(ctx context.Context, r control.Resize, adm *kadm.Client) error {
	wait := 20 * time.Millisecond
	for {
		ok, err := p.sees(ctx, adm, r.Topic, r.New)
		if err == nil && ok {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
	p.switchMu.Lock()
	defer p.switchMu.Unlock()
	old := p.epoch.Add(1) - 1
	wait = 100 * time.Microsecond
	for p.inflight[old&1].Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 20*time.Millisecond)
	}
	return nil
}

// sees reports whether records to topic are partitioned with at least n
// partitions from now on. A topic the client has loaded is checked in the
// client's cached metadata, refreshed at once; a topic it never wrote to is
// checked with the brokers (its first record loads metadata that has the
// new partitions).
func (p *Producer) sees(ctx context.Context, adm *kadm.Client, topic string, n int32) (bool, error) {
	if leader, _, _ := p.cl.PartitionLeader(topic, 0); leader < 0 {
		td, err := adm.ListTopics(ctx, topic)
		if err != nil {
			return false, fmt.Errorf("describe %s: %w", topic, err)
		}
		d, ok := td[topic]
		if !ok || d.Err != nil {
			return false, nil
		}
		if int32(len(d.Partitions)) < n {
			return false, nil
		}
		// Loaded meanwhile? Then the cached metadata decides.
		if leader, _, _ := p.cl.PartitionLeader(topic, 0); leader < 0 {
			return true, nil
		}
	}
	if leader, _, _ := p.cl.PartitionLeader(topic, n-1); leader >= 0 {
		return true, nil
	}
	p.cl.ForceMetadataRefresh()
	return false, nil
}

// ControlID is the Producer's id in the resize protocol, "" when it does
// not take part.
func (p *Producer) ControlID() string {
	ctl := p.ctl.Load()
	if ctl == nil {
		return ""
	}
	return ctl.ID()
}
