package control

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Protocol timings.
const (
	// DefaultHeartbeat is how often a producer says it is alive.
	DefaultHeartbeat = 3 * time.Second
	// LiveWindow: a producer whose last heartbeat is older counts as gone
	// (it crashed without a closing heartbeat), and resizes stop waiting
	// for its ack.
	LiveWindow = 10 * time.Second
)

// SwitchFunc switches a producer to a resize's new partition count: it
// returns once its client partitions r.Topic's records with at least r.New
// partitions and every record it partitioned before with fewer is acked.
// ctx ends when the producer closes or the resize was completed without
// it. adm reaches the brokers through the control connection.
type SwitchFunc func(ctx context.Context, r Resize, adm *kadm.Client) error

// ParticipantConfig configures Join.
type ParticipantConfig struct {
	Topic      string        // control topic; DefaultTopic when empty
	ClientOpts []kgo.Opt     // connection options (seed brokers, TLS, SASL)
	Name       string        // client id, part of the producer id
	Topics     []string      // topics the producer writes, for operators
	Heartbeat  time.Duration // DefaultHeartbeat when 0
	Logger     *slog.Logger
	Switch     SwitchFunc // required
}

// Participant is a producer's side of the resize protocol: heartbeats,
// and a switch plus an ack for every resize it sees begin.
type Participant struct {
	conn *Conn
	id   string
	cfg  ParticipantConfig
	log  *slog.Logger

	mu       sync.Mutex
	running  map[string]context.CancelFunc // resize id -> switch in progress
	acked    map[string]bool
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// Join opens the control topic, announces the producer with a first
// heartbeat and reads the topic to its end (so a resize in progress is
// switched to before the producer's first record counts as unseen), then
// keeps heartbeating and switching until Close.
func Join(ctx context.Context, cfg ParticipantConfig) (*Participant, error) {
	if cfg.Switch == nil {
		return nil, fmt.Errorf("join resize control: no switch function")
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conn, err := Open(ctx, cfg.Topic, cfg.ClientOpts, log)
	if err != nil {
		return nil, err
	}
	p := &Participant{conn: conn, id: producerID(cfg.Name), cfg: cfg, log: log,
		running: map[string]context.CancelFunc{}, acked: map[string]bool{}}
	if err := conn.Write(ctx, p.heartbeat(false)); err != nil {
		conn.Close()
		return nil, err
	}
	if err := conn.CatchUp(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.check(lctx)
	p.wg.Add(1)
	go p.loop(lctx) // ends on Close
	return p, nil
}

func producerID(name string) string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	if name == "" {
		name = "producer"
	}
	return fmt.Sprintf("%s@%s/%s", name, host, hex.EncodeToString(b[:]))
}

// ID is the producer id in the control topic.
func (p *Participant) ID() string { return p.id }

// Conn is the participant's control connection.
func (p *Participant) Conn() *Conn { return p.conn }

func (p *Participant) heartbeat(closed bool) Record {
	host, _ := os.Hostname()
	return Record{Kind: KindHeartbeat, Producer: p.id, Client: p.cfg.Name + "@" + host, Topics: p.cfg.Topics, Closed: closed}
}

func (p *Participant) loop(ctx context.Context) {
	defer p.wg.Done()
	tick := time.NewTicker(p.cfg.Heartbeat)
	defer tick.Stop()
	for {
		changed := p.conn.Changed()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			wctx, cancel := context.WithTimeout(ctx, p.cfg.Heartbeat)
			if err := p.conn.Write(wctx, p.heartbeat(false)); err != nil && ctx.Err() == nil {
				p.log.Warn("resize control heartbeat", "err", err)
			}
			cancel()
		case <-changed:
			p.check(ctx)
		}
	}
}

// check starts a switch for every open resize not switched to yet, and
// cancels switches of resizes completed meanwhile.
func (p *Participant) check(ctx context.Context) {
	st := p.conn.State()
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, cancel := range p.running {
		if r := st.Resizes[id]; r == nil || r.Done() {
			cancel()
		}
	}
	for id, r := range st.Resizes {
		if r.Topic == "" || r.Done() || p.acked[id] || p.running[id] != nil {
			continue
		}
		if _, ok := r.Switched[p.id]; ok {
			p.acked[id] = true
			continue
		}
		sctx, cancel := context.WithCancel(ctx)
		p.running[id] = cancel
		p.wg.Add(1)
		go p.switchTo(sctx, *r) // ends when switched, or cancelled by check or Close
	}
}

func (p *Participant) switchTo(ctx context.Context, r Resize) {
	defer p.wg.Done()
	start := time.Now()
	err := p.cfg.Switch(ctx, r, p.conn.Admin())
	if err == nil {
		err = p.conn.Write(ctx, Record{Kind: KindSwitched, Resize: r.ID, Producer: p.id, Topic: r.Topic})
	}
	p.mu.Lock()
	p.running[r.ID]()
	delete(p.running, r.ID)
	if err == nil {
		p.acked[r.ID] = true
	}
	p.mu.Unlock()
	switch {
	case err == nil:
		p.log.Info("switched to the new partition count", "resize", r.ID, "topic", r.Topic, "partitions", r.New, "took", time.Since(start).Round(time.Millisecond))
	case ctx.Err() == nil:
		p.log.Warn("switch to the new partition count failed", "resize", r.ID, "err", err)
	}
}

// Close stops switching, says the producer is gone (so resizes do not
// wait for it) and closes the control connection.
func (p *Participant) Close() {
	p.stopOnce.Do(func() {
		p.cancel()
		p.wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := p.conn.Write(ctx, p.heartbeat(true)); err != nil {
			p.log.Debug("closing heartbeat", "err", err)
		}
		p.conn.Close()
	})
}
