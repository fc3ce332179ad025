package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/surgeio/surge/schemas"
)

// ErrSenderClosed is delivered for records sent after HTTPSender.Close.
var ErrSenderClosed = errors.New("http sender closed")

// HTTPSender sends surge records to a gateway over HTTP: orders one by one
// to /v1/orders, user events and order status changes in NDJSON batches to
// /v1/events:batch. Its Send method has the shape of loadgen.Sender, so
// the load generator can drive traffic through a gateway.
//
// Records are spread over lanes by user id; a lane sends one request at a
// time and sends a user's records in the order they were given, so each
// user's history reaches Kafka in order. A batch carries an
// Idempotency-Key of its own and is retried with it (the gateway then
// replays the items it already accepted and produces only the others), so
// retries never duplicate a record. Orders are retried under their
// order_id, the gateway's default key for orders.
type HTTPSender struct {
	base   string
	key    string
	cfg    senderConfig
	lanes  []chan sendReq
	wg     sync.WaitGroup
	mu     sync.RWMutex // guards closed against Send
	closed bool
	prefix string
	seq    atomic.Uint64
}

type sendReq struct {
	ctx  context.Context
	r    schemas.Record
	done func(error)
}

// SenderOpt configures an HTTPSender.
type SenderOpt func(*senderConfig)

type senderConfig struct {
	batchSize  int
	linger     time.Duration
	lanes      int
	queue      int
	maxRetries int
	client     *http.Client
	log        *slog.Logger
}

// WithBatchSize sets the most events per batch request, overriding 100.
func WithBatchSize(n int) SenderOpt { return func(c *senderConfig) { c.batchSize = n } }

// WithBatchLinger sets how long a lane waits for more events before
// sending a batch that is not full, overriding 2ms.
func WithBatchLinger(d time.Duration) SenderOpt { return func(c *senderConfig) { c.linger = d } }

// WithLanes sets how many requests may be in flight at once, overriding
// 16.
func WithLanes(n int) SenderOpt { return func(c *senderConfig) { c.lanes = n } }

// WithMaxRetries sets how often a request is retried after a 429, a 503
// or a network error, overriding 8. Retries back off from 50ms to 5s and
// honour Retry-After.
func WithMaxRetries(n int) SenderOpt { return func(c *senderConfig) { c.maxRetries = n } }

// WithHTTPClient sets the HTTP client, overriding one with a 30s timeout
// and enough idle connections for every lane.
func WithHTTPClient(c *http.Client) SenderOpt { return func(s *senderConfig) { s.client = c } }

// WithSenderLogger sets the logger for retries, overriding discarding.
func WithSenderLogger(l *slog.Logger) SenderOpt { return func(c *senderConfig) { c.log = l } }

// NewHTTPSender returns a sender to the gateway at baseURL
// ("http://127.0.0.1:8080") with apiKey ("" for a gateway without auth).
// Close it after the last Send's done has run.
func NewHTTPSender(baseURL, apiKey string, opts ...SenderOpt) (*HTTPSender, error) {
	cfg := senderConfig{batchSize: 100, linger: 2 * time.Millisecond, lanes: 16, queue: 1024, maxRetries: 8}
	for _, o := range opts {
		o(&cfg)
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("new http sender: base URL %q: want http://host:port or https://host:port", baseURL)
	}
	if cfg.batchSize < 1 || cfg.lanes < 1 || cfg.maxRetries < 0 || cfg.linger < 0 {
		return nil, fmt.Errorf("new http sender: batch size %d and lanes %d must be positive, retries %d and linger %v not negative",
			cfg.batchSize, cfg.lanes, cfg.maxRetries, cfg.linger)
	}
	if cfg.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = cfg.lanes
		cfg.client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("new http sender: %w", err)
	}
	s := &HTTPSender{base: strings.TrimRight(baseURL, "/"), key: apiKey, cfg: cfg,
		prefix: "batch-" + hex.EncodeToString(rnd[:]) + "-"}
	s.lanes = make([]chan sendReq, cfg.lanes)
	for i := range s.lanes {
		s.lanes[i] = make(chan sendReq, cfg.queue)
		s.wg.Add(1)
		go s.runLane(s.lanes[i]) // ended by Close
	}
	return s, nil
}

// Send queues r for its user's lane and calls done once the gateway
// accepted it (nil) or it failed for good. It blocks while the lane's
// queue is full, or until ctx ends (then done gets ctx's error). Once a
// request is on the wire, ctx no longer cancels it, so that done reports
// what really happened.
func (s *HTTPSender) Send(ctx context.Context, r schemas.Record, done func(error)) {
	if done == nil {
		done = func(error) {}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		done(ErrSenderClosed)
		return
	}
	key := r.Key()
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	select {
	case s.lanes[h%uint32(len(s.lanes))] <- sendReq{ctx, r, done}:
	case <-ctx.Done():
		done(ctx.Err())
	}
}

// Close sends what is queued, then stops the lanes. Later Sends fail with
// ErrSenderClosed.
func (s *HTTPSender) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		for _, ch := range s.lanes {
			close(ch)
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func isBatchable(r schemas.Record) bool {
	k := r.Kind()
	return k == schemas.KindUserEvent || k == schemas.KindOrderStatus
}

// runLane sends a lane's records in order: consecutive events as one
// batch, anything else on its own.
func (s *HTTPSender) runLane(ch chan sendReq) {
	defer s.wg.Done()
	batch := make([]sendReq, 0, s.cfg.batchSize)
	for {
		req, ok := <-ch
		if !ok {
			return
		}
		batch = append(batch[:0], req)
		if isBatchable(req.r) {
			deadline := time.Now().Add(s.cfg.linger)
			for len(batch) < s.cfg.batchSize {
				x, got := recv(ch, deadline)
				if !got {
					break
				}
				if !isBatchable(x.r) {
					s.deliver(batch)
					batch = append(batch[:0], x)
					break
				}
				batch = append(batch, x)
			}
		}
		s.deliver(batch)
	}
}

// recv takes the next queued record, waiting until deadline at most.
func recv(ch chan sendReq, deadline time.Time) (sendReq, bool) {
	select {
	case x, ok := <-ch:
		return x, ok
	default:
	}
	d := time.Until(deadline)
	if d <= 0 {
		return sendReq{}, false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case x, ok := <-ch:
		return x, ok
	case <-t.C:
		return sendReq{}, false
	}
}

// deliver sends one request's records and completes each of them.
func (s *HTTPSender) deliver(reqs []sendReq) {
	var body []byte
	items := make([]sendReq, 0, len(reqs))
	for _, q := range reqs {
		start := len(body)
		var err error
		if body, err = schemas.AppendJSON(body, q.r); err != nil {
			body = body[:start]
			q.done(err)
			continue
		}
		body = append(body, '\n')
		items = append(items, q)
	}
	if len(items) == 0 {
		return
	}
	if isBatchable(items[0].r) {
		s.send(items, "/v1/events:batch", "application/x-ndjson", body, s.prefix+strconv.FormatUint(s.seq.Add(1), 10))
		return
	}
	path := "/v1/events"
	if items[0].r.Kind() == schemas.KindOrder {
		path = "/v1/orders"
	}
	s.send(items, path, "application/json", body, "")
}

// maxResponse bounds a gateway answer the sender reads.
const maxResponse = 16 << 20

// send posts body, retrying with the same body and idempotency key while
// the answer says to, and completes every item exactly once.
func (s *HTTPSender) send(items []sendReq, path, ctype string, body []byte, idemKey string) {
	open := len(items)
	pending := make([]bool, len(items))
	for i := range pending {
		pending[i] = true
	}
	finish := func(i int, err error) {
		if pending[i] {
			pending[i] = false
			open--
			items[i].done(err)
		}
	}
	finishAll := func(err error) {
		for i := range items {
			finish(i, err)
		}
	}
	ctx := items[0].ctx
	if err := ctx.Err(); err != nil {
		finishAll(err)
		return
	}
	for attempt := 0; ; attempt++ {
		retryAfter, err := s.attempt(ctx, path, ctype, body, idemKey, items, finish)
		if open == 0 {
			return
		}
		if retryAfter < 0 || attempt >= s.cfg.maxRetries {
			finishAll(err)
			return
		}
		wait := min(50*time.Millisecond<<attempt, 5*time.Second)
		wait = min(max(wait, retryAfter), 5*time.Second)
		s.cfg.log.Debug("gateway request failed; retrying", slog.String("path", path),
			slog.Int("attempt", attempt+1), slog.Duration("wait", wait), slog.Any("err", err))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			finishAll(errors.Join(ctx.Err(), err))
			return
		}
	}
}

// attempt sends the request once and completes the items the answer
// settles. It returns the error for the rest and how long to wait before
// retrying them; a negative wait means a retry cannot help.
func (s *HTTPSender) attempt(ctx context.Context, path, ctype string, body []byte, idemKey string,
	items []sendReq, finish func(int, error)) (time.Duration, error) {
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodPost, s.base+path, bytes.NewReader(body))
	if err != nil {
		return -1, fmt.Errorf("post %s: %w", path, err)
	}
	req.Header.Set("Content-Type", ctype)
	if s.key != "" {
		req.Header.Set("Authorization", "Bearer "+s.key)
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := s.cfg.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post %s: %w", path, err)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	resp.Body.Close()
	if err != nil {
		return 0, fmt.Errorf("post %s: read answer: %w", path, err)
	}
	retryAfter := time.Duration(0)
	if v, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && v > 0 {
		retryAfter = time.Duration(v) * time.Second
	}
	st := resp.StatusCode
	if st == http.StatusAccepted && len(items) == 1 && idemKey == "" {
		finish(0, nil)
		return 0, nil
	}
	if idemKey != "" && (st == http.StatusAccepted || st == http.StatusBadRequest || st == http.StatusServiceUnavailable) {
		var br BatchResult
		if json.Unmarshal(b, &br) == nil && len(br.Items) == len(items) {
			var firstFail error
			for i, it := range br.Items {
				switch it.Status {
				case "accepted":
					finish(i, nil)
				case "rejected":
					finish(i, itemErr(it.Error, st))
				default:
					if firstFail == nil {
						firstFail = itemErr(it.Error, st)
					}
				}
			}
			return retryAfter, firstFail
		}
	}
	var eb ErrorBody
	if json.Unmarshal(b, &eb) != nil || eb.Error.Code == "" {
		eb.Error = APIError{Code: "http_" + strconv.Itoa(st), Message: strings.TrimSpace(string(b))}
	}
	e := &eb.Error
	err = fmt.Errorf("post %s: %d %w", path, st, e)
	switch {
	case st == http.StatusTooManyRequests, st >= 500, e.Code == CodeIdempotencyInProgress:
		return retryAfter, err
	}
	return -1, err
}

func itemErr(e *APIError, status int) error {
	if e == nil {
		return fmt.Errorf("gateway answered %d without a reason", status)
	}
	return e
}
