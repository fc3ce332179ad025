package web

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// hub runs one snapshot loop per view that at least one live stream shows
// and hands each snapshot to the view's streams.
type hub struct {
	s       *Server
	mu      sync.Mutex
	feeds   map[view]*feed
	streams int
	closed  bool
}

// feed is one view's loop and its subscribers. Each subscriber has a
// one-slot channel: a slow page skips to the newest snapshot.
type feed struct {
	subs map[chan []byte]struct{}
	last []byte
	stop context.CancelFunc
}

func newHub(s *Server) *hub { return &hub{s: s, feeds: make(map[view]*feed)} }

// subscribe adds a stream for v, starting v's loop if it is the first. ok
// is false when the server has as many streams as it serves, or is closing.
// leave must be called when the stream ends.
func (h *hub) subscribe(v view) (ch chan []byte, leave func(), ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.streams >= h.s.maxStreams {
		return nil, nil, false
	}
	h.streams++
	f := h.feeds[v]
	ch = make(chan []byte, 1)
	if f == nil {
		ctx, stop := context.WithCancel(context.Background())
		f = &feed{subs: make(map[chan []byte]struct{}), stop: stop}
		h.feeds[v] = f
		h.s.wg.Add(1)
		go h.run(ctx, v, f) // ended by f.stop, when the last subscriber leaves or the hub closes
	} else if f.last != nil {
		ch <- f.last
	}
	f.subs[ch] = struct{}{}
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.streams--
		delete(f.subs, ch)
		if len(f.subs) == 0 && h.feeds[v] == f {
			f.stop()
			delete(h.feeds, v)
		}
	}, true
}

// run makes v's snapshots every interval until ctx is done. A snapshot
// that takes more than half the interval stretches the wait to as long as
// it took, so that slow queries (a large range under load) never run back
// to back and leave ClickHouse at least half its time for the sink.
func (h *hub) run(ctx context.Context, v view, f *feed) {
	defer h.s.wg.Done()
	for {
		start := time.Now()
		b := h.s.snapshot(ctx, v)
		if ctx.Err() != nil {
			return
		}
		h.mu.Lock()
		f.last = b
		for ch := range f.subs {
			select { // drop the unread older snapshot, keep the newest
			case <-ch:
			default:
			}
			ch <- b
		}
		h.mu.Unlock()
		took := time.Since(start)
		wait := max(h.s.interval-took, took)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// close stops every loop; new streams are refused.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for v, f := range h.feeds {
		f.stop()
		delete(h.feeds, v)
	}
}

// heartbeat is how often an idle stream gets a comment line, so that
// proxies keep it open and a dead client is noticed.
const heartbeat = 15 * time.Second

// handleLive streams the view's snapshots as Server-Sent Events: each is
// one "snapshot" event whose data is the snapshot's JSON.
func (s *Server) handleLive(w http.ResponseWriter, r *http.Request) {
	v, err := s.parseView(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ch, leave, ok := s.hub.subscribe(v)
	if !ok {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "too many live pages are open; close one or try again")
		return
	}
	defer leave()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// The browser reconnects after this long if the stream breaks.
	if _, err := w.Write([]byte("retry: 2000\n\n")); err != nil {
		return
	}
	_ = rc.Flush()
	hb := time.NewTicker(heartbeat)
	defer hb.Stop()
	for {
		var msg []byte
		select {
		case <-r.Context().Done():
			return
		case b := <-ch:
			msg = append(append([]byte("event: snapshot\ndata: "), b...), '\n', '\n')
		case <-hb.C:
			msg = []byte(": keep-alive\n\n")
		}
		if _, err := w.Write(msg); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
