package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The gateway scenario's load generator: a minimal HTTP/1.1 client over
// keep-alive connections, one request at a time per connection (like
// wrk), so that the client costs little CPU next to the servers it
// measures on the same machine. Both sides of a comparison get the same
// generator, connections and requests.

// httpConn is one keep-alive connection.
type httpConn struct {
	c  net.Conn
	br *bufio.Reader
}

func dialHTTP(addr string) (*httpConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return &httpConn{c: c, br: bufio.NewReaderSize(c, 64<<10)}, nil
}

// do writes one request and reads its answer. body receives the answer's
// body (reused between calls).
func (h *httpConn) do(req []byte, body *[]byte) (int, error) {
	if _, err := h.c.Write(req); err != nil {
		return 0, fmt.Errorf("write request: %w", err)
	}
	line, err := h.br.ReadSlice('\n')
	if err != nil {
		return 0, fmt.Errorf("read status line: %w", err)
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length, closing := -1, false
	for {
		line, err := h.br.ReadSlice('\n')
		if err != nil {
			return 0, fmt.Errorf("read header: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(v)); err != nil {
				return 0, fmt.Errorf("bad Content-Length %q", v)
			}
		case bytes.EqualFold(k, []byte("Connection")) && bytes.EqualFold(v, []byte("close")):
			closing = true
		}
	}
	if length < 0 {
		return 0, errors.New("answer without Content-Length")
	}
	if cap(*body) < length {
		*body = make([]byte, length)
	}
	*body = (*body)[:length]
	if _, err := io.ReadFull(h.br, *body); err != nil {
		return 0, fmt.Errorf("read body: %w", err)
	}
	if closing {
		return status, errors.New("server closed the connection")
	}
	return status, nil
}

func (h *httpConn) close() { _ = h.c.Close() }

// requestFunc builds the next request for connection worker w into buf and
// returns it.
type requestFunc func(w int, buf []byte) []byte

// loadResult is what one load run measured.
type loadResult struct {
	took      time.Duration
	requests  int64
	byStatus  map[int]int64
	accepted  int64 // records accepted: 1 per 202 of a single record, the count in a batch answer
	errs      int64
	firstErr  error
	latencies []time.Duration // sorted
}

func (r *loadResult) rate() float64 { return rate(r.requests, r.took) }

func (r *loadResult) p(q float64) time.Duration { return quantile(r.latencies, q) }

// worker state shared by closed and open loops.
type loadWorker struct {
	conn     *httpConn
	req      []byte
	body     []byte
	status   map[int]int64
	accepted int64
	lat      []time.Duration
	errs     int64
	firstErr error
}

func (w *loadWorker) one(addr string, i int, next requestFunc, countAccepted func(int, []byte) int64) (time.Duration, bool) {
	if w.conn == nil {
		c, err := dialHTTP(addr)
		if err != nil {
			w.fail(err)
			return 0, false
		}
		w.conn = c
	}
	w.req = next(i, w.req[:0])
	start := time.Now()
	st, err := w.conn.do(w.req, &w.body)
	d := time.Since(start)
	if err != nil {
		w.conn.close()
		w.conn = nil
		w.fail(err)
		return d, false
	}
	w.status[st]++
	w.accepted += countAccepted(st, w.body)
	return d, true
}

func (w *loadWorker) fail(err error) {
	w.errs++
	if w.firstErr == nil {
		w.firstErr = err
	}
}

// closedLoop runs conns connections, each sending its next request as soon
// as the previous answer arrived, for d.
func closedLoop(ctx context.Context, addr string, conns int, d time.Duration, next requestFunc, countAccepted func(int, []byte) int64) *loadResult {
	ws := make([]*loadWorker, conns)
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	for i := range ws {
		ws[i] = &loadWorker{status: map[int]int64{}, lat: make([]time.Duration, 0, 4096)}
		wg.Add(1)
		go func(w *loadWorker) { // ends at end or with ctx
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(end) {
				if lat, ok := w.one(addr, i, next, countAccepted); ok {
					w.lat = append(w.lat, lat)
				}
			}
		}(ws[i])
	}
	wg.Wait()
	return merge(ws, time.Since(start))
}

// openLoop sends requests at a fixed rate for d over conns connections and
// times each from the moment it was due, not from when a connection was
// free to send it, so that queueing in the client counts as latency (no
// coordinated omission).
func openLoop(ctx context.Context, addr string, conns int, perSec float64, d time.Duration, next requestFunc, countAccepted func(int, []byte) int64) *loadResult {
	total := int(perSec * d.Seconds())
	due := make(chan time.Time, total)
	interval := time.Duration(float64(time.Second) / perSec)
	ws := make([]*loadWorker, conns)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range ws {
		ws[i] = &loadWorker{status: map[int]int64{}, lat: make([]time.Duration, 0, total/conns+16)}
		wg.Add(1)
		go func(w *loadWorker) { // ends when due is closed and drained
			defer wg.Done()
			for t := range due {
				if ctx.Err() != nil {
					continue
				}
				if _, ok := w.one(addr, i, next, countAccepted); ok {
					w.lat = append(w.lat, time.Since(t))
				}
			}
		}(ws[i])
	}
	var sent atomic.Int64
	for n := 0; n < total && ctx.Err() == nil; n++ {
		t := start.Add(time.Duration(n) * interval)
		if wait := time.Until(t); wait > time.Millisecond {
			time.Sleep(wait)
		}
		due <- t
		sent.Add(1)
	}
	close(due)
	wg.Wait()
	return merge(ws, time.Since(start))
}

func merge(ws []*loadWorker, took time.Duration) *loadResult {
	r := &loadResult{took: took, byStatus: map[int]int64{}}
	for _, w := range ws {
		if w.conn != nil {
			w.conn.close()
		}
		for st, n := range w.status {
			r.byStatus[st] += n
			r.requests += n
		}
		r.accepted += w.accepted
		r.errs += w.errs
		if r.firstErr == nil {
			r.firstErr = w.firstErr
		}
		r.latencies = append(r.latencies, w.lat...)
	}
	slices.Sort(r.latencies)
	return r
}

// statusText lists the answers by status: "202: 51,234, 503: 12".
func (r *loadResult) statusText() string {
	codes := make([]int, 0, len(r.byStatus))
	for c := range r.byStatus {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	var b bytes.Buffer
	for i, c := range codes {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d: %s", c, fmtCount(r.byStatus[c]))
	}
	if r.errs > 0 {
		fmt.Fprintf(&b, ", connection errors: %d (first: %v)", r.errs, r.firstErr)
	}
	return b.String()
}
