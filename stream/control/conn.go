package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Conn reads the control topic from its start into a State, following it
// as it grows, and writes control records. Open starts its reader; Close
// ends it.
type Conn struct {
	cl    *kgo.Client
	adm   *kadm.Client
	topic string
	log   *slog.Logger

	mu      sync.Mutex
	st      *State
	next    int64         // offset after the last record applied
	changed chan struct{} // closed and replaced when next moves

	cancel  context.CancelFunc
	done    chan struct{}
	missing bool // the control topic does not exist and was not created
}

// Open connects to the control topic through a client built from
// clientOpts (seed brokers, TLS, SASL), creating the topic if it is
// missing (one partition, compacted), and starts reading it from the start.
func Open(ctx context.Context, topic string, clientOpts []kgo.Opt, log *slog.Logger) (*Conn, error) {
	return open(ctx, topic, clientOpts, log, true)
}

// open is Open; without create, a missing control topic is not created:
// the Conn then reads an empty state and cannot write.
func open(ctx context.Context, topic string, clientOpts []kgo.Opt, log *slog.Logger, create bool) (*Conn, error) {
	if topic == "" {
		topic = DefaultTopic
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if !create {
		exists, err := topicExists(ctx, topic, clientOpts)
		if err != nil {
			return nil, err
		}
		if !exists {
			cl, err := kgo.NewClient(clientOpts...)
			if err != nil {
				return nil, fmt.Errorf("open control topic %s: %w", topic, err)
			}
			c := &Conn{cl: cl, adm: kadm.NewClient(cl), topic: topic, log: log, st: newState(), changed: make(chan struct{}),
				done: make(chan struct{}), missing: true, cancel: func() {}}
			close(c.done)
			return c, nil
		}
	}
	if err := ensureTopic(ctx, topic, clientOpts); err != nil {
		return nil, err
	}
	opts := append(append([]kgo.Opt(nil), clientOpts...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.MetadataMinAge(250*time.Millisecond),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("open control topic %s: %w", topic, err)
	}
	c := &Conn{cl: cl, adm: kadm.NewClient(cl), topic: topic, log: log, st: newState(), changed: make(chan struct{}), done: make(chan struct{})}
	rctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.read(rctx) // ends on Close
	return c, nil
}

// topicExists reports whether the control topic exists.
func topicExists(ctx context.Context, topic string, clientOpts []kgo.Opt) (bool, error) {
	cl, err := kgo.NewClient(clientOpts...)
	if err != nil {
		return false, fmt.Errorf("open control topic %s: %w", topic, err)
	}
	defer cl.Close()
	td, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		return false, fmt.Errorf("describe control topic %s: %w", topic, err)
	}
	d, ok := td[topic]
	return ok && d.Err == nil, nil
}

// ensureTopic creates the control topic if it does not exist, with a
// client of its own: a consuming client that met the topic missing would
// back off before it looks again.
func ensureTopic(ctx context.Context, topic string, clientOpts []kgo.Opt) error {
	cl, err := kgo.NewClient(clientOpts...)
	if err != nil {
		return fmt.Errorf("open control topic %s: %w", topic, err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	td, err := adm.ListTopics(ctx, topic)
	if err == nil {
		if d, ok := td[topic]; ok && d.Err == nil {
			return nil
		}
	}
	resp, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{"cleanup.policy": ptr("compact")}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create control topic %s: %w", topic, err)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// Topic is the control topic's name.
func (c *Conn) Topic() string { return c.topic }

// Admin is an admin client on the control connection's client.
func (c *Conn) Admin() *kadm.Client { return c.adm }

// Close stops the reader and closes the client.
func (c *Conn) Close() {
	c.cancel()
	<-c.done
	c.cl.Close()
}

func (c *Conn) read(ctx context.Context) {
	defer close(c.done)
	for {
		fs := c.cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.Canceled) {
				c.log.Debug("read control topic", "err", err)
			}
		})
		var recs []Record
		last := int64(-1)
		fs.EachRecord(func(r *kgo.Record) {
			last = r.Offset
			rec, err := decode(r.Value)
			if err != nil {
				c.log.Warn("skipping control record", "offset", r.Offset, "err", err)
				return
			}
			recs = append(recs, rec)
		})
		if last < 0 {
			continue
		}
		c.mu.Lock()
		for _, r := range recs {
			c.st.apply(r)
		}
		c.next = last + 1
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	}
}

// Changed returns a channel closed when the next records are applied.
func (c *Conn) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// State returns a copy of the state read so far.
func (c *Conn) State() *State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.clone()
}

// Write writes records and waits for their acks.
func (c *Conn) Write(ctx context.Context, recs ...Record) error {
	if c.missing {
		return fmt.Errorf("write to control topic %s: it does not exist (opened without creating it)", c.topic)
	}
	krs := make([]*kgo.Record, 0, len(recs))
	for _, r := range recs {
		if r.Time.IsZero() {
			r.Time = time.Now().UTC()
		}
		v, err := encode(r)
		if err != nil {
			return err
		}
		krs = append(krs, &kgo.Record{Topic: c.topic, Partition: 0, Key: []byte(r.Key()), Value: v})
	}
	if err := c.cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
		return fmt.Errorf("write to control topic %s: %w", c.topic, err)
	}
	return nil
}

// CatchUp waits until every record written to the control topic before
// the call is applied to the state.
func (c *Conn) CatchUp(ctx context.Context) error {
	if c.missing {
		return nil
	}
	end, err := c.endOffset(ctx)
	if err != nil {
		return err
	}
	for {
		c.mu.Lock()
		next, ch := c.next, c.changed
		c.mu.Unlock()
		if next >= end {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("read control topic to offset %d: %w", end, ctx.Err())
		}
	}
}

// endOffset lists the control partition's end offset, retrying while a
// just created topic is not known everywhere yet.
func (c *Conn) endOffset(ctx context.Context) (int64, error) {
	var last error
	for try := 0; ; try++ {
		ends, err := c.adm.ListEndOffsets(ctx, c.topic)
		if err == nil {
			o, ok := ends.Lookup(c.topic, 0)
			switch {
			case ok && o.Err == nil:
				return o.Offset, nil
			case ok:
				err = o.Err
			default:
				err = fmt.Errorf("partition 0 not listed")
			}
		}
		last = err
		if try == 50 {
			break
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("control topic end offset: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return 0, fmt.Errorf("control topic end offset: %w", last)
}
