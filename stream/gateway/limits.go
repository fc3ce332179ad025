package gateway

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// inFlight bounds the bytes of records handed to Kafka and not yet
// acknowledged. It never waits: a request that does not fit is refused.
type inFlight struct {
	max int64
	cur atomic.Int64
}

// acquire takes n bytes if they fit. A request larger than the whole bound
// is let through when nothing else is in flight, so that it is not refused
// forever.
func (f *inFlight) acquire(n int64) bool {
	for {
		cur := f.cur.Load()
		if cur > 0 && cur+n > f.max {
			return false
		}
		if f.cur.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

func (f *inFlight) release(n int64) { f.cur.Add(-n) }

// reserve takes n records from lim's bucket. When the bucket cannot give
// them now it takes nothing and returns how long until it could; -1 when
// it never could (n is over the burst).
func reserve(lim *rate.Limiter, n int, now time.Time) (*rate.Reservation, time.Duration, bool) {
	if lim == nil {
		return nil, 0, true
	}
	r := lim.ReserveN(now, n)
	if !r.OK() {
		return nil, -1, false
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return nil, d, false
	}
	return r, 0, true
}

// bodyKind is how a request body is framed.
type bodyKind int

const (
	bodyJSON   bodyKind = iota // one JSON value (an object, or an array for batches)
	bodyNDJSON                 // one JSON object per line
)

// mediaType checks a request's Content-Type: application/json, or for
// batches also application/x-ndjson (application/ndjson, application/jsonl).
// A charset parameter, if any, must be utf-8.
func mediaType(ct string, batch bool) (bodyKind, bool) {
	if ct == "application/json" {
		return bodyJSON, true
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return 0, false
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return 0, false
	}
	switch mt {
	case "application/json":
		return bodyJSON, true
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines":
		return bodyNDJSON, batch
	}
	return 0, false
}

// maxPooledBody is the largest body buffer kept for reuse.
const maxPooledBody = 1 << 20

var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// errBodyTooLarge is readBody's error for a body over its limit.
var errBodyTooLarge = errors.New("body too large")

// readBody reads a request body of at most limit bytes into a pooled
// buffer; putBody(pooled, body) returns the buffer. A declared
// Content-Length over the limit is refused before reading.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) (body []byte, pooled *[]byte, err error) {
	if r.ContentLength > limit {
		return nil, nil, errBodyTooLarge
	}
	bp := bodyPool.Get().(*[]byte)
	buf := (*bp)[:0]
	if r.ContentLength > int64(cap(buf)) {
		buf = make([]byte, 0, r.ContentLength)
	}
	if sw, ok := w.(*statusWriter); ok {
		w = sw.ResponseWriter // so that MaxBytesReader can tell the server to close the connection
	}
	rd := http.MaxBytesReader(w, r.Body, limit)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, rerr := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			putBody(bp, buf)
			var mbe *http.MaxBytesError
			if errors.As(rerr, &mbe) {
				return nil, nil, errBodyTooLarge
			}
			return nil, nil, rerr
		}
	}
	return buf, bp, nil
}

func putBody(bp *[]byte, buf []byte) {
	if cap(buf) > maxPooledBody {
		return
	}
	*bp = buf[:0]
	bodyPool.Put(bp)
}
