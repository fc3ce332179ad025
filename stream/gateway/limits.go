package gateway

import (
	"compress/flate"
	"compress/gzip"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
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

// Errors of readBody, each answered with its own status and code.
var (
	errBodyTooLarge  = errors.New("body too large")             // 413
	errBodyTimeout   = errors.New("body timeout")               // 408
	errBodyTruncated = errors.New("body incomplete")            // 400
	errBadGzip       = errors.New("the body is not valid gzip") // 400
)

// readBody reads a request body of at most limit bytes into a pooled
// buffer; putBody(pooled, body) returns the buffer. A declared
// Content-Length over the limit is refused before reading. With gz the
// body is gzip: the limit applies both to the bytes on the wire and to
// the decoded body, so a compression bomb stops at limit+1 decoded bytes.
// Its errors are the ones above; none carries the transport's own text
// (which names socket addresses).
func readBody(w http.ResponseWriter, r *http.Request, limit int64, gz bool) (body []byte, pooled *[]byte, err error) {
	if r.ContentLength > limit {
		return nil, nil, errBodyTooLarge
	}
	bp := bodyPool.Get().(*[]byte)
	buf := (*bp)[:0]
	if !gz && r.ContentLength > int64(cap(buf)) {
		buf = make([]byte, 0, r.ContentLength)
	}
	if sw, ok := w.(*statusWriter); ok {
		w = sw.ResponseWriter // so that MaxBytesReader can tell the server to close the connection
	}
	wire := &wireReader{r: http.MaxBytesReader(w, r.Body, limit)}
	var rd io.Reader = wire
	if gz {
		zr, zerr := gzip.NewReader(wire)
		if zerr != nil {
			putBody(bp, buf)
			return nil, nil, bodyError(zerr, wire.err)
		}
		defer zr.Close()
		rd = zr
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, rerr := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			putBody(bp, buf)
			return nil, nil, errBodyTooLarge
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			putBody(bp, buf)
			return nil, nil, bodyError(rerr, wire.err)
		}
	}
	return buf, bp, nil
}

// wireReader remembers the error reading the body off the connection, so
// that a gzip error can be told from a transport one.
type wireReader struct {
	r   io.Reader
	err error // the first error other than io.EOF
}

func (w *wireReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if err != nil && err != io.EOF && w.err == nil {
		w.err = err
	}
	return n, err
}

// bodyError classifies an error reading the body: err is what the reader
// returned, wireErr what the connection did (nil when it delivered the
// body whole, so that err came from gzip).
func bodyError(err, wireErr error) error {
	if wireErr == nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF || errors.Is(err, gzip.ErrHeader) || errors.Is(err, gzip.ErrChecksum) {
			return errBadGzip
		}
		var ce flate.CorruptInputError
		if errors.As(err, &ce) {
			return errBadGzip
		}
		wireErr = err
	}
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(wireErr, &mbe):
		return errBodyTooLarge
	case errors.Is(wireErr, os.ErrDeadlineExceeded), errors.As(wireErr, &ne) && ne.Timeout():
		return errBodyTimeout
	}
	return errBodyTruncated
}

// contentEncoding reads Content-Encoding: gz is true for gzip; ok is false
// for any other encoding (or a list of them), which is refused with 415.
func contentEncoding(r *http.Request) (enc string, gz, ok bool) {
	vs := r.Header.Values("Content-Encoding")
	if len(vs) == 0 {
		return "", false, true
	}
	enc = strings.TrimSpace(strings.Join(vs, ", "))
	switch strings.ToLower(enc) {
	case "", "identity":
		return enc, false, true
	case "gzip", "x-gzip":
		return enc, true, true
	}
	return enc, false, false
}

func putBody(bp *[]byte, buf []byte) {
	if cap(buf) > maxPooledBody {
		return
	}
	*bp = buf[:0]
	bodyPool.Put(bp)
}
