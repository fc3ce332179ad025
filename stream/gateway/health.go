package gateway

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// readyTimeout bounds one readiness probe of the broker.
const readyTimeout = 2 * time.Second

// readyCache keeps the last readiness answer for the ready TTL, so that
// probes from many load balancers cost one metadata request per TTL. One
// probe of the broker runs at a time; requests arriving meanwhile wait for
// its answer.
type readyCache struct {
	mu      sync.Mutex
	checked time.Time
	problem string // "" when ready
}

func (g *Gateway) serveHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`+"\n"))
}

// serveReadyz answers 200 when the gateway takes requests: not shutting
// down, the broker reachable and every topic it writes to present.
func (g *Gateway) serveReadyz(w http.ResponseWriter, r *http.Request) {
	problem := g.readiness(r.Context())
	if problem != "" {
		writeError(w, http.StatusServiceUnavailable, apiErr(CodeNotReady, problem), time.Second)
		return
	}
	writeJSON(w, http.StatusOK, []byte(`{"status":"ready"}`+"\n"))
}

// readiness returns "" when ready, else what is wrong.
func (g *Gateway) readiness(ctx context.Context) string {
	if g.draining.Load() {
		return "the gateway is shutting down"
	}
	c := &g.ready
	c.mu.Lock()
	defer c.mu.Unlock()
	now := g.cfg.now()
	if !c.checked.IsZero() && now.Sub(c.checked) < g.cfg.readyTTL {
		return c.problem
	}
	c.problem = g.probe(ctx)
	c.checked = g.cfg.now()
	return c.problem
}

// probe asks the broker for the metadata of every topic the gateway
// writes to.
func (g *Gateway) probe(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	want := g.topics.Data()
	if g.cfg.idemTopic != "" {
		want = append(want, g.cfg.idemTopic)
	}
	missing, err := g.p.MissingTopics(ctx, want...)
	if err != nil {
		// The client's error names broker addresses: the log has it, the
		// public answer does not.
		g.log.Warn("gateway: Kafka is not reachable", "err", err)
		return "Kafka is not reachable; the gateway log has the details"
	}
	if len(missing) > 0 {
		return fmt.Sprintf("missing topics: %s (create them with surge topics create)", strings.Join(missing, ", "))
	}
	return ""
}

// Ready reports whether the gateway would answer /readyz with 200, and if
// not, why.
func (g *Gateway) Ready(ctx context.Context) (bool, string) {
	p := g.readiness(ctx)
	return p == "", p
}
