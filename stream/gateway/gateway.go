package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/stream"
)

// Gateway is the HTTP intake: it serves the routes described in the
// package documentation and writes accepted records through a
// stream.Producer. It is an http.Handler; Serve runs it on a listener
// with a graceful shutdown.
type Gateway struct {
	cfg        config
	p          *stream.Producer
	topics     stream.Topics
	keys       *Keys
	principals []*principal
	anonymous  *principal // without auth
	log        *slog.Logger
	idem       *window
	ilog       *idemLog // nil: results are kept in memory only
	inflight   inFlight
	m          *metrics
	ready      readyCache
	deadlines  deadlines // of the waits for Kafka

	draining    atomic.Bool
	outstanding sync.WaitGroup // requests whose records Kafka has not all answered
	drainOnce   sync.Once
	drainErr    error
}

// New returns a Gateway. It needs WithProducer and WithKeys (or
// WithoutAuth). Unless WithIdempotencyTopic("") is given, it creates the
// idempotency topic when missing and reads the results of the last window
// from it, bounded by ctx and by one minute, before it returns.
func New(ctx context.Context, opts ...Opt) (*Gateway, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("new gateway: %w", err)
	}
	g := &Gateway{
		cfg:    cfg,
		p:      cfg.producer,
		topics: cfg.producer.Topics(),
		keys:   cfg.keys,
		log:    cfg.log,
		idem:   newWindow(cfg.idemWindow, cfg.idemMaxKeys, cfg.now),
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	g.inflight.max = cfg.maxInFlight
	g.deadlines.timeout = cfg.produceTimeout
	if cfg.noAuth {
		g.anonymous = &principal{name: "anonymous", scopes: scopeOrders | scopeEvents,
			lim: newLimiter(0, 0, cfg.rate, cfg.burst, cfg.maxBatchItems)}
		g.log.Warn("gateway: API keys are OFF (no-auth): anyone who reaches this address can write orders and events; use it for a local demo only")
	} else {
		g.principals = newPrincipals(cfg.keys, cfg.rate, cfg.burst, cfg.maxBatchItems)
	}
	reg := cfg.registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg, g)
	if err != nil {
		return nil, fmt.Errorf("new gateway: %w", err)
	}
	g.m = m
	if cfg.idemTopic != "" {
		lctx, cancel := context.WithTimeout(ctx, cfg.idemLoadWait)
		defer cancel()
		cl, err := kgo.NewClient(g.p.ClusterOpts()...)
		if err != nil {
			return nil, fmt.Errorf("new gateway: client for the idempotency topic: %w", err)
		}
		defer cl.Close()
		if err := ensureIdemTopic(lctx, cl, &cfg); err != nil {
			return nil, fmt.Errorf("new gateway: %w", err)
		}
		start := time.Now()
		n, err := loadIdempotency(lctx, cl, &cfg, g.idem)
		if err != nil {
			return nil, fmt.Errorf("new gateway: load idempotency results: %w", err)
		}
		g.log.Info("gateway: loaded idempotency results", slog.String("topic", cfg.idemTopic),
			slog.Int("records", n), slog.Int("keys", g.idem.len()), slog.Duration("took", time.Since(start)))
		g.ilog = newIdemLog(cfg.idemTopic, g.p, g.log)
	}
	return g, nil
}

// Topics returns the topics records go to.
func (g *Gateway) Topics() stream.Topics { return g.topics }

// route is one served path.
type route struct {
	label  string // the metrics label
	method string
	scope  scopeSet // 0: no API key needed
}

var routes = map[string]route{
	"/v1/orders":       {"/v1/orders", http.MethodPost, scopeOrders},
	"/v1/events":       {"/v1/events", http.MethodPost, scopeEvents},
	"/v1/events:batch": {"/v1/events:batch", http.MethodPost, scopeEvents},
	"/healthz":         {"/healthz", http.MethodGet, 0},
	"/readyz":          {"/readyz", http.MethodGet, 0},
	"/metrics":         {"/metrics", http.MethodGet, 0},
	"/openapi.json":    {"/openapi.json", http.MethodGet, 0},
}

// ServeHTTP routes a request, checks its API key and records its metrics.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := statusWriterPool.Get().(*statusWriter)
	sw.ResponseWriter, sw.status = w, 0
	rt, found := routes[r.URL.Path]
	label := rt.label
	if !found {
		label = "other"
	}
	g.serve(sw, r, rt, found)
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	g.m.observe(label, status, time.Since(start))
	sw.ResponseWriter = nil
	statusWriterPool.Put(sw)
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, rt route, found bool) {
	if !found {
		writeError(w, http.StatusNotFound, apiErr(CodeNotFound, "no route "+r.URL.Path+"; see /openapi.json"), 0)
		return
	}
	if r.Method != rt.method && !(rt.method == http.MethodGet && r.Method == http.MethodHead) {
		w.Header().Set("Allow", rt.method)
		writeError(w, http.StatusMethodNotAllowed, apiErr(CodeMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path+"; use "+rt.method), 0)
		return
	}
	if rt.scope == 0 {
		switch r.URL.Path {
		case "/healthz":
			g.serveHealthz(w, r)
		case "/readyz":
			g.serveReadyz(w, r)
		case "/metrics":
			g.m.handler.ServeHTTP(w, r)
		case "/openapi.json":
			serveOpenAPI(w, r)
		}
		return
	}
	who := g.authenticate(w, r, rt.scope)
	if who == nil {
		return
	}
	if who.lim != nil && who.lim.Tokens() < 1 {
		// Refuse before reading the body; the exact count is taken later.
		g.refuse(w, &refusal{http.StatusTooManyRequests, apiErr(CodeRateLimited,
			"API key "+who.name+" is over its rate limit"), time.Second, "rate_limited"})
		return
	}
	switch r.URL.Path {
	case "/v1/orders":
		g.serveSingle(w, r, who, true)
	case "/v1/events":
		g.serveSingle(w, r, who, false)
	case "/v1/events:batch":
		g.serveBatch(w, r, who)
	}
}

// authenticate returns the caller of a /v1 route, or nil after answering
// 401 (no or unknown key) or 403 (the key lacks the scope).
func (g *Gateway) authenticate(w http.ResponseWriter, r *http.Request, need scopeSet) *principal {
	if g.anonymous != nil {
		return g.anonymous
	}
	secret, given := credential(r)
	if secret == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="surge"`)
		g.m.reject("unauthorized")
		msg := "missing API key: send Authorization: Bearer <key> or X-API-Key: <key>"
		if given {
			msg = "unsupported Authorization scheme: send Authorization: Bearer <key> or X-API-Key: <key>"
		}
		writeError(w, http.StatusUnauthorized, apiErr(CodeUnauthorized, msg), 0)
		return nil
	}
	i := g.keys.lookup(secret)
	if i < 0 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="surge", error="invalid_token"`)
		g.m.reject("unauthorized")
		writeError(w, http.StatusUnauthorized, apiErr(CodeUnauthorized, "invalid API key"), 0)
		return nil
	}
	who := g.principals[i]
	if !who.scopes.has(need) {
		g.m.reject("forbidden")
		scope := ScopeEventsWrite
		if need == scopeOrders {
			scope = ScopeOrdersWrite
		}
		writeError(w, http.StatusForbidden, apiErr(CodeForbidden,
			fmt.Sprintf("API key %s lacks the scope %s", who.name, scope)), 0)
		return nil
	}
	return who
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

var statusWriterPool = sync.Pool{New: func() any { return new(statusWriter) }}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Serve serves the gateway on ln until ctx ends, then shuts down
// gracefully within the shutdown timeout: it stops accepting connections
// and answers every request in progress (each waits at most the produce
// timeout for Kafka), then Drain flushes the producer. It returns nil
// after a clean shutdown. The caller closes the producer afterwards.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           g,
		ReadHeaderTimeout: min(5*time.Second, g.cfg.readTimeout),
		ReadTimeout:       g.cfg.readTimeout,
		WriteTimeout:      g.cfg.produceTimeout + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }() // ends when srv shuts down
	select {
	case err := <-errc:
		g.draining.Store(true)
		_ = g.Drain(context.WithoutCancel(ctx))
		return fmt.Errorf("serve gateway: %w", err)
	case <-ctx.Done():
	}
	g.draining.Store(true)
	deadline := time.Now().Add(g.cfg.shutdownTimeout)
	sctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	var errs []error
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		errs = append(errs, fmt.Errorf("shut down HTTP server: %w", err))
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, fmt.Errorf("serve gateway: %w", err))
	}
	if err := g.Drain(sctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Drain ends intake: later requests are answered 503, records on their way
// to Kafka are flushed, and idempotency results are written to their topic.
// It returns when that is done or ctx ends. Serve calls it; a caller using
// the Gateway only as a handler calls it after its server stopped, before
// closing the producer. Drain is idempotent.
func (g *Gateway) Drain(ctx context.Context) error {
	g.drainOnce.Do(func() {
		g.draining.Store(true)
		if err := g.p.Flush(ctx); err != nil {
			g.drainErr = fmt.Errorf("drain gateway: %w", err)
			return
		}
		done := make(chan struct{})
		go func() { g.outstanding.Wait(); close(done) }() // ends once every request's records are answered
		select {
		case <-done:
		case <-ctx.Done():
			g.drainErr = fmt.Errorf("drain gateway: records still unanswered: %w", ctx.Err())
			return
		}
		if g.ilog != nil {
			g.ilog.close()
			if err := g.p.Flush(ctx); err != nil {
				g.drainErr = fmt.Errorf("drain gateway: flush idempotency results: %w", err)
				return
			}
			if n := g.ilog.dropped.Load() + g.ilog.failed.Load(); n > 0 {
				g.log.Warn("gateway: some idempotency results were not written; they were kept in memory only",
					slog.Int64("count", n))
			}
		}
	})
	return g.drainErr
}
