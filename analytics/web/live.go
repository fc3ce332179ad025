package web

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// hub runs one snapshot loop for all the views that live streams show:
// every interval it makes each view's snapshot once, however many pages
// show it, one view after the other, and hands it to the view's streams.
// The views of one round share a memo, so a query two views ask with the
// same parameters (the campaign list, coupons per rule of the same
// campaign, a report over the same minutes) runs once per round.
type hub struct {
	s       *Server
	mu      sync.Mutex
	feeds   map[view]*feed
	streams int
	closed  bool
	started bool
	stop    context.CancelFunc
	wake    chan struct{} // a new view waits for its first snapshot
}

// feed is one view's subscribers. Each subscriber has a one-slot channel:
// a slow page skips to the newest snapshot.
type feed struct {
	subs map[chan []byte]struct{}
	last []byte
}

func newHub(s *Server) *hub {
	return &hub{s: s, feeds: make(map[view]*feed), wake: make(chan struct{}, 1)}
}

// subscribe adds a stream for v, starting the loop if it is the first
// stream ever and waking it for a view it does not make yet. ok is false
// when the server has as many streams as it serves, or is closing. leave
// must be called when the stream ends.
func (h *hub) subscribe(v view) (ch chan []byte, leave func(), ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.streams >= h.s.maxStreams {
		return nil, nil, false
	}
	h.streams++
	if !h.started {
		ctx, stop := context.WithCancel(context.Background())
		h.started, h.stop = true, stop
		h.s.wg.Add(1)
		go h.run(ctx) // ended by h.stop, when the hub closes
	}
	f := h.feeds[v]
	ch = make(chan []byte, 1)
	if f == nil {
		f = &feed{subs: make(map[chan []byte]struct{})}
		h.feeds[v] = f
		select {
		case h.wake <- struct{}{}:
		default: // a round is due already
		}
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
			delete(h.feeds, v)
		}
	}, true
}

// run makes a round of snapshots every interval until ctx is done, and at
// once when a new view is waiting. A round that takes more than half the
// interval stretches the wait to as long as it took, so that slow queries
// (a large range under load) never run back to back and leave ClickHouse
// at least half its time for the sink. With no view open it waits for one.
func (h *hub) run(ctx context.Context) {
	defer h.s.wg.Done()
	for {
		start := time.Now()
		n := h.round(ctx)
		if ctx.Err() != nil {
			return
		}
		var (
			timer *time.Timer
			tick  <-chan time.Time // nil: no view open, wait for one
		)
		if n > 0 {
			took := time.Since(start)
			timer = time.NewTimer(max(h.s.interval-took, took))
			tick = timer.C
		}
		select {
		case <-ctx.Done():
		case <-tick:
		case <-h.wake:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// round makes the snapshot of every open view once and returns how many
// views it made.
func (h *hub) round(ctx context.Context) int {
	h.mu.Lock()
	views := make([]view, 0, len(h.feeds))
	for v := range h.feeds {
		views = append(views, v)
	}
	h.mu.Unlock()
	m := newMemo()
	for _, v := range views {
		b := h.s.snapshot(ctx, v, m)
		if ctx.Err() != nil {
			return 0
		}
		h.mu.Lock()
		if f := h.feeds[v]; f != nil {
			f.last = b
			for ch := range f.subs {
				select { // drop the unread older snapshot, keep the newest
				case <-ch:
				default:
				}
				ch <- b
			}
		}
		h.mu.Unlock()
	}
	return len(views)
}

// close stops the loop; new streams are refused.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	if h.stop != nil {
		h.stop()
	}
	for v := range h.feeds {
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
