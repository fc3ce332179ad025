package broker

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// orphan is a JoinGroup or SyncGroup request waiting for its answer, with
// the address its connection came from: an orphan proper once that
// connection has closed.
type orphan struct {
	groupRequest
	host string
}

// trackingListener is the listener the broker accepts from. It wraps each
// client connection so that the JoinGroup and SyncGroup requests waiting
// for an answer are known when the connection closes, and it also hands
// the broker in-process connections of its own client (dialInternal).
type trackingListener struct {
	net.Listener // TCP, or TLS over TCP

	accepted chan acceptResult
	internal chan net.Conn
	closed   chan struct{}
	once     sync.Once

	// orphaned gets the requests left waiting by a closed connection;
	// reporting stops once quiet is set (the broker is shutting down).
	orphaned func([]orphan)
	quiet    atomic.Bool

	mu   sync.Mutex
	open map[*trackedConn]struct{}
}

type acceptResult struct {
	conn net.Conn
	err  error
}

func newTrackingListener(ln net.Listener, orphaned func([]orphan)) *trackingListener {
	l := &trackingListener{
		Listener: ln,
		accepted: make(chan acceptResult),
		internal: make(chan net.Conn),
		closed:   make(chan struct{}),
		orphaned: orphaned,
		open:     make(map[*trackedConn]struct{}),
	}
	// The accept loop ends when the listener is closed.
	go func() {
		for {
			c, err := ln.Accept()
			select {
			case l.accepted <- acceptResult{c, err}:
			case <-l.closed:
				if c != nil {
					c.Close()
				}
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return l
}

// Accept returns the next client connection, or the broker's own.
func (l *trackingListener) Accept() (net.Conn, error) {
	select {
	case r := <-l.accepted:
		if r.err != nil {
			return nil, r.err
		}
		return l.track(r.conn), nil
	case c := <-l.internal:
		return l.track(c), nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close stops accepting connections; open ones stay open.
func (l *trackingListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// dialInternal connects the broker's own client to the broker in process,
// past TLS (the connection never leaves the process).
func (l *trackingListener) dialInternal(ctx context.Context, _, _ string) (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case l.internal <- server:
		return client, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *trackingListener) track(c net.Conn) net.Conn {
	tc := &trackedConn{Conn: c, l: l}
	tc.in = frameSplitter{headLen: 8, keep: isGroupRequestHead, done: tc.requestRead}
	tc.out = frameSplitter{headLen: 4, keep: func([]byte) bool { return false }, done: tc.responseWritten}
	l.mu.Lock()
	l.open[tc] = struct{}{}
	l.mu.Unlock()
	return tc
}

// waiting returns the group requests that have waited for their answer
// longer than d on connections still open.
func (l *trackingListener) waiting(d time.Duration) []orphan {
	l.mu.Lock()
	conns := make([]*trackedConn, 0, len(l.open))
	for c := range l.open {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	var out []orphan
	for _, c := range conns {
		c.mu.Lock()
		for _, gr := range c.waiting {
			if time.Since(gr.at) > d {
				out = append(out, orphan{gr, c.Conn.RemoteAddr().String()})
			}
		}
		c.mu.Unlock()
	}
	return out
}

// trackedConn watches the requests read from and the responses written to
// one client connection. The broker reads and writes a connection from one
// goroutine each, and answers its requests in order.
type trackedConn struct {
	net.Conn
	l *trackingListener

	inMu, outMu sync.Mutex
	in, out     frameSplitter

	mu      sync.Mutex
	waiting map[int32]groupRequest // by correlation id
	closed  bool
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.inMu.Lock()
		c.in.feed(p[:n])
		c.inMu.Unlock()
	}
	return n, err
}

func (c *trackedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.outMu.Lock()
		c.out.feed(p[:n])
		c.outMu.Unlock()
	}
	return n, err
}

// requestRead notes a JoinGroup or SyncGroup request read in full.
func (c *trackedConn) requestRead(frame []byte, whole bool) {
	if !whole {
		return
	}
	corr, gr, ok := parseGroupRequest(frame)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if c.waiting == nil {
		c.waiting = make(map[int32]groupRequest)
	}
	gr.at = time.Now()
	c.waiting[corr] = gr
}

// responseWritten notes that the answer to a request went out in full.
func (c *trackedConn) responseWritten(head []byte, _ bool) {
	corr := int32(binary.BigEndian.Uint32(head))
	c.mu.Lock()
	delete(c.waiting, corr)
	c.mu.Unlock()
}

// Close closes the connection and reports the group requests it leaves
// unanswered. The broker closes a connection when the client goes away
// (or on shutdown), from its read and its write goroutine both.
func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return err
	}
	c.closed = true
	waiting := c.waiting
	c.waiting = nil
	c.mu.Unlock()
	c.l.mu.Lock()
	delete(c.l.open, c)
	c.l.mu.Unlock()
	if len(waiting) == 0 || c.l.quiet.Load() {
		return err
	}
	host := c.Conn.RemoteAddr().String()
	orphans := make([]orphan, 0, len(waiting))
	for _, gr := range waiting {
		orphans = append(orphans, orphan{gr, host})
	}
	c.l.orphaned(orphans)
	return err
}
