package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/surgeio/surge/schemas"
)

// wrongKindError refuses a record of a kind the route does not take.
type wrongKindError struct{ msg string }

func (e *wrongKindError) Error() string { return e.msg }

// decodeEvent decodes the body of /v1/events or one batch item: a user
// event (the kind when "kind" is absent) or an order status change.
func decodeEvent(b []byte) (schemas.Record, error) {
	rec, err := schemas.Decode(b)
	if err != nil {
		var ve *schemas.ValidationError
		if errors.As(err, &ve) && len(ve.Errors) == 1 && ve.Errors[0].Field == "kind" && ve.Errors[0].Problem == "missing" {
			return schemas.DecodeUserEvent(b)
		}
		return nil, err
	}
	switch rec.Kind() {
	case schemas.KindUserEvent, schemas.KindOrderStatus:
		return rec, nil
	case schemas.KindOrder:
		return nil, &wrongKindError{"kind: orders go to POST /v1/orders"}
	default:
		return nil, &wrongKindError{fmt.Sprintf("kind: %s records are not taken over HTTP; this route takes user_event and order_status", rec.Kind())}
	}
}

// recordScope refuses a record the key may not write although it may use
// the route: order_status records change an order (paid, cancelled, a
// priority) that the payment and inventory services act on, so they need
// orders:write as well as the route's events:write.
func recordScope(who *principal, rec schemas.Record) *APIError {
	if rec.Kind() != schemas.KindOrderStatus || who.scopes.has(scopeOrders) {
		return nil
	}
	return &APIError{Code: CodeForbidden,
		Message: fmt.Sprintf("API key %s lacks the scope %s, which order_status records need (they change an order); give the key both %s and %s",
			who.name, ScopeOrdersWrite, ScopeEventsWrite, ScopeOrdersWrite),
		Fields: []FieldProblem{{Field: "kind", Problem: "order_status needs the scope " + string(ScopeOrdersWrite)}}}
}

// refuseRecord answers a record that could not be decoded.
func (g *Gateway) refuseRecord(w http.ResponseWriter, err error) {
	status, e := itemError(err)
	g.m.reject(e.Code)
	writeError(w, status, e, 0)
}

// itemError is the refusal of one undecodable record.
func itemError(err error) (int, *APIError) {
	var wk *wrongKindError
	if errors.As(err, &wk) {
		return http.StatusBadRequest, &APIError{Code: CodeWrongKind, Message: wk.msg,
			Fields: []FieldProblem{{Field: "kind", Problem: wk.msg[len("kind: "):]}}}
	}
	return recordError(err)
}

func (g *Gateway) refuse(w http.ResponseWriter, r *refusal) {
	g.m.reject(r.reason)
	writeError(w, r.status, r.err, r.retryAfter)
}

// readRequest checks the Content-Type and reads the body, answering 415 or
// 413 itself; ok is false when it did.
func (g *Gateway) readRequest(w http.ResponseWriter, r *http.Request, limit int64, batch bool) ([]byte, bodyKind, *[]byte, bool) {
	kind, ok := mediaType(r.Header.Get("Content-Type"), batch)
	if !ok {
		want := "application/json"
		if batch {
			want = "application/json (an array) or application/x-ndjson"
		}
		g.m.reject("unsupported_media_type")
		writeError(w, http.StatusUnsupportedMediaType, apiErr(CodeUnsupportedMediaType,
			fmt.Sprintf("Content-Type %q is not accepted here; send %s", r.Header.Get("Content-Type"), want)), 0)
		return nil, 0, nil, false
	}
	enc, gz, ok := contentEncoding(r)
	if !ok {
		g.m.reject("unsupported_encoding")
		w.Header().Set("Accept-Encoding", "gzip")
		writeError(w, http.StatusUnsupportedMediaType, apiErr(CodeUnsupportedEncoding,
			fmt.Sprintf("Content-Encoding %q is not accepted; send the body as is or gzip it (Content-Encoding: gzip)", enc)), 0)
		return nil, 0, nil, false
	}
	body, pooled, err := readBody(w, r, limit, gz)
	if err != nil {
		g.refuseBody(w, err, limit, gz)
		return nil, 0, nil, false
	}
	return body, kind, pooled, true
}

// refuseBody answers a body that could not be read. No message carries the
// transport's error text, which names socket addresses.
func (g *Gateway) refuseBody(w http.ResponseWriter, err error, limit int64, gz bool) {
	status, code, msg := http.StatusBadRequest, CodeIncompleteBody,
		"the connection ended before the whole body arrived; send the request again"
	switch err {
	case errBodyTooLarge:
		status, code, msg = http.StatusRequestEntityTooLarge, CodeBodyTooLarge, fmt.Sprintf("the body is over the limit of %d bytes", limit)
		if gz {
			msg = fmt.Sprintf("the body is over the limit of %d bytes (the limit applies to the decompressed body)", limit)
		}
	case errBodyTimeout:
		status, code, msg = http.StatusRequestTimeout, CodeRequestTimeout,
			fmt.Sprintf("the body did not arrive within %s; send the whole request at once", g.cfg.readTimeout)
	case errBadGzip:
		code, msg = CodeInvalidEncoding, "Content-Encoding is gzip but the body does not decompress as gzip"
	}
	g.m.reject(code)
	writeError(w, status, apiErr(code, msg), 0)
}

// idempotencyKey returns the request's idempotency key, namespaced by API
// key: the Idempotency-Key header, else def (the order id or event id; ""
// for none). ok is false for an invalid header, already answered.
func (g *Gateway) idempotencyKey(w http.ResponseWriter, r *http.Request, who *principal, def string) (string, bool) {
	if vs, set := r.Header["Idempotency-Key"]; set {
		if len(vs) != 1 || !validIdempotencyKey(vs[0]) {
			g.m.reject("invalid_idempotency_key")
			writeError(w, http.StatusBadRequest, apiErr(CodeInvalidIdempotencyKey,
				"Idempotency-Key must be one header of 1 to 255 printable ASCII characters"), 0)
			return "", false
		}
		return who.name + "|h:" + vs[0], true
	}
	if def == "" {
		return "", true
	}
	return who.name + "|" + def, true
}

// serveSingle serves POST /v1/orders (orders) and POST /v1/events.
func (g *Gateway) serveSingle(w http.ResponseWriter, r *http.Request, who *principal, orders bool) {
	body, _, pooled, ok := g.readRequest(w, r, g.cfg.maxBody, false)
	if !ok {
		return
	}
	defer putBody(pooled, body)
	var (
		rec schemas.Record
		def string
		err error
	)
	if orders {
		var o *schemas.Order
		if o, err = schemas.DecodeOrder(body); err == nil {
			rec, def = o, "o:"+o.OrderID
		}
	} else if rec, err = decodeEvent(body); err == nil {
		def = "e:" + rec.ID()
	}
	if err != nil {
		g.refuseRecord(w, err)
		return
	}
	if e := recordScope(who, rec); e != nil {
		g.m.reject(CodeForbidden)
		writeError(w, http.StatusForbidden, e, 0)
		return
	}
	key, ok := g.idempotencyKey(w, r, who, def)
	if !ok {
		return
	}
	it := newIntake(g, who, 1)
	it.recs[0], it.sizes[0] = rec, len(body)
	ctx := g.deadlines.get(time.Now())
	if ref := it.admit(ctx, key, hashBody(body)); ref != nil {
		g.refuse(w, ref)
		return
	}
	it.produce(ctx)
	res := it.waitOne(ctx)
	if !res.ok() {
		g.m.reject(res.err.Code)
		writeError(w, failureStatus(res.err), res.err, time.Second)
		return
	}
	if res.state == itemReplayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	buf := respPool.Get().(*[]byte)
	b := appendAccepted((*buf)[:0], &res)
	writeJSON(w, http.StatusAccepted, b)
	*buf = b
	respPool.Put(buf)
}

var respPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// serveBatch serves POST /v1/events:batch.
func (g *Gateway) serveBatch(w http.ResponseWriter, r *http.Request, who *principal) {
	body, kind, pooled, ok := g.readRequest(w, r, g.cfg.maxBatch, true)
	if !ok {
		return
	}
	defer putBody(pooled, body)
	parts, err := splitBatch(body, kind, g.cfg.maxBatchItems)
	if err != nil {
		if errors.Is(err, errTooManyItems) {
			g.m.reject("too_many_items")
			writeError(w, http.StatusRequestEntityTooLarge, apiErr(CodeTooManyItems,
				fmt.Sprintf("the batch has more than %d items; split it", g.cfg.maxBatchItems)), 0)
			return
		}
		g.m.reject("invalid_batch")
		writeError(w, http.StatusBadRequest, apiErr(CodeInvalidBatch, err.Error()), 0)
		return
	}
	it := newIntake(g, who, len(parts))
	valid := 0
	for i, p := range parts {
		rec, err := decodeEvent(p)
		if err != nil {
			_, e := itemError(err)
			it.res[i] = itemResult{state: itemRejected, err: e}
			g.m.reject("invalid_item")
			continue
		}
		if e := recordScope(who, rec); e != nil {
			it.res[i] = itemResult{state: itemRejected, err: e}
			g.m.reject(CodeForbidden)
			continue
		}
		it.recs[i], it.sizes[i] = rec, len(p)
		valid++
	}
	if valid == 0 {
		g.writeBatch(w, it.res)
		return
	}
	key, ok := g.idempotencyKey(w, r, who, "")
	if !ok {
		return
	}
	var h bodyHash
	if key != "" {
		h = hashBody(body)
	}
	ctx := g.deadlines.get(time.Now())
	if ref := it.admit(ctx, key, h); ref != nil {
		g.refuse(w, ref)
		return
	}
	it.produce(ctx)
	g.writeBatch(w, it.wait(ctx))
}

func (g *Gateway) writeBatch(w http.ResponseWriter, res []itemResult) {
	status, accepted, rejected, failed := batchStatus(res)
	if failed > 0 {
		setRetryAfter(w, time.Second)
		g.m.rejectN("failed_item", failed)
	}
	buf := respPool.Get().(*[]byte)
	b := appendBatch((*buf)[:0], res, accepted, rejected, failed)
	writeJSON(w, status, b)
	if cap(b) <= maxPooledBody {
		*buf = b
		respPool.Put(buf)
	}
}
