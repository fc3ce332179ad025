package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/surgeio/surge/analytics"
)

// Reporter runs the named reports; *analytics.Conn is one.
type Reporter interface {
	Report(ctx context.Context, name string, p analytics.ReportParams) (*analytics.ReportResult, error)
	Campaigns(ctx context.Context) ([]string, error)
}

// Probe reads the pipeline's health for the page. It is called at most
// once per interval, whatever the number of pages open.
type Probe func(ctx context.Context) (*Pipeline, error)

// Authorizer checks an API key's secret: known says whether a key matched,
// allowed whether it may read reports.
type Authorizer func(secret string) (known, allowed bool)

// Budget is a coupon rule's budget, for the page's "budget used".
type Budget struct {
	Campaign string `json:"campaign"`
	Rule     string `json:"rule"`
	// Coupons and Value bound the rule's spend over all users; 0 is
	// unbounded.
	Coupons int64 `json:"coupons"`
	Value   int64 `json:"value"`
	// Currency is the currency of the rule's coupons (and of Value).
	Currency string `json:"currency"`
}

// Opt configures a Server.
type Opt func(*Server)

// WithPipeline sets the probe of the pipeline's health; without it the page
// says the health is not available (surge ui without Kafka).
func WithPipeline(p Probe) Opt { return func(s *Server) { s.probe = p } }

// WithBudgets sets the coupon rules' budgets shown next to the coupons
// issued per rule; without it the page shows no budget.
func WithBudgets(b ...Budget) Opt { return func(s *Server) { s.budgets = append(s.budgets, b...) } }

// WithAuth requires an API key on every request, checked by a. It overrides
// the default of serving loopback only without authentication.
func WithAuth(a Authorizer) Opt { return func(s *Server) { s.auth = a } }

// WithInterval sets how often live pages get a new snapshot (default 1s,
// at least 100ms).
func WithInterval(d time.Duration) Opt { return func(s *Server) { s.interval = d } }

// WithMaxStreams bounds the live streams served at once (default 256);
// more get 503.
func WithMaxStreams(n int) Opt { return func(s *Server) { s.maxStreams = n } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Opt { return func(s *Server) { s.logger = l } }

// WithClock sets the clock relative times ("3h") are read against
// (default time.Now).
func WithClock(now func() time.Time) Opt { return func(s *Server) { s.now = now } }

// Server is the campaign page's HTTP server.
type Server struct {
	rep        Reporter
	probe      Probe
	budgets    []Budget
	auth       Authorizer
	interval   time.Duration
	maxStreams int
	logger     *slog.Logger
	now        func() time.Time

	hub     *hub
	health  healthCache
	handler http.Handler
	wg      sync.WaitGroup // the hub's feed loops
}

// New returns a server for rep's reports.
func New(rep Reporter, opts ...Opt) (*Server, error) {
	s := &Server{rep: rep, interval: time.Second, maxStreams: 256, logger: slog.Default(), now: time.Now}
	for _, o := range opts {
		o(s)
	}
	switch {
	case rep == nil:
		return nil, errors.New("web: no reporter")
	case s.interval < 100*time.Millisecond:
		return nil, fmt.Errorf("web: interval %s: want at least 100ms", s.interval)
	case s.maxStreams < 1:
		return nil, fmt.Errorf("web: max streams %d: want at least 1", s.maxStreams)
	}
	s.hub = newHub(s)
	s.handler = s.routes()
	return s, nil
}

// Handler returns the server's routes with its security checks and headers.
func (s *Server) Handler() http.Handler { return s.handler }

// ErrNeedsAuth is returned by Listen for an address other than loopback
// when no authorizer is set.
var ErrNeedsAuth = errors.New("serving beyond this machine needs API keys")

// Listen opens addr after checking it against the server's policy: without
// WithAuth only a loopback address (127.0.0.1, ::1, localhost) is allowed.
func (s *Server) Listen(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("web: address %q: %w", addr, err)
	}
	if s.auth == nil && !loopbackHost(host) {
		return nil, fmt.Errorf("web: address %q: %w: give a keys file with a reports:read key, or listen on 127.0.0.1", addr, ErrNeedsAuth)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("web: listen on %s: %w", addr, err)
	}
	return ln, nil
}

// loopbackHost reports whether host names this machine only.
func loopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Serve serves on ln until ctx is done, then closes the live streams and
// the listener, waits up to 5s for requests in progress and for the
// snapshot loops, and returns nil (or the error that stopped serving).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       time.Minute,
		// Requests, the live streams included, end with ctx.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }() // ended by Shutdown below
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	s.hub.close()
	s.wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
