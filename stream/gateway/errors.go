package gateway

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/surgeio/surge/schemas"
)

// Error codes: the "code" of an error body, one per kind of refusal. Codes
// are stable; messages may change.
const (
	CodeUnauthorized          = "unauthorized"                // 401: no or unknown API key
	CodeForbidden             = "forbidden"                   // 403: the key lacks the route's scope
	CodeNotFound              = "not_found"                   // 404
	CodeMethodNotAllowed      = "method_not_allowed"          // 405
	CodeUnsupportedMediaType  = "unsupported_media_type"      // 415: Content-Type is not JSON (or NDJSON for batches)
	CodeUnsupportedEncoding   = "unsupported_encoding"        // 415: Content-Encoding is not identity or gzip
	CodeRequestTimeout        = "request_timeout"             // 408: the body did not arrive within the read timeout
	CodeIncompleteBody        = "incomplete_body"             // 400: the connection ended before the whole body arrived
	CodeInvalidEncoding       = "invalid_encoding"            // 400: a gzip body that does not decompress
	CodeBodyTooLarge          = "body_too_large"              // 413: body or record over its limit
	CodeTooManyItems          = "too_many_items"              // 413: batch over the max item count
	CodeInvalidRecord         = "invalid_record"              // 400: the record breaks a schema rule; see fields
	CodeInvalidBatch          = "invalid_batch"               // 400: the batch cannot be split into records, or every item is invalid
	CodeWrongKind             = "wrong_kind"                  // 400: a record of a kind this route does not take
	CodeInvalidIdempotencyKey = "invalid_idempotency_key"     // 400: Idempotency-Key empty, over 255 bytes or not printable ASCII
	CodeIdempotencyConflict   = "idempotency_key_reused"      // 409: same key, different body
	CodeIdempotencyInProgress = "idempotency_key_in_progress" // 409: the first request with this key is still waiting for Kafka
	CodeRateLimited           = "rate_limited"                // 429: the key's token bucket is empty; see Retry-After
	CodeOverloaded            = "overloaded"                  // 503: too many bytes on their way to Kafka; see Retry-After
	CodeKafkaTimeout          = "kafka_timeout"               // 503: Kafka did not acknowledge within the produce timeout; result unknown
	CodeKafkaUnavailable      = "kafka_unavailable"           // 503: Kafka refused the record; nothing was written
	CodeShuttingDown          = "shutting_down"               // 503: the gateway is stopping
	CodeNotReady              = "not_ready"                   // 503 from /readyz
)

// ErrorBody is the body of every error response:
//
//	{"error": {"code": "invalid_record", "message": "...",
//	           "fields": [{"field": "items[0].qty", "problem": "must be greater than zero"}]}}
type ErrorBody struct {
	Error APIError `json:"error"`
}

// APIError is one refusal: a stable code, a message for people, and for
// invalid records the problems by field.
type APIError struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Fields  []FieldProblem `json:"fields,omitempty"`
}

// FieldProblem is what is wrong with one field, named by its JSON path
// ("currency", "items[2].qty"); Field is empty for the record as a whole.
type FieldProblem struct {
	Field   string `json:"field"`
	Problem string `json:"problem"`
}

// Error implements error, so that a refusal can travel as one.
func (e *APIError) Error() string { return e.Code + ": " + e.Message }

// apiErr builds an APIError.
func apiErr(code, msg string) *APIError { return &APIError{Code: code, Message: msg} }

// recordError turns a schemas error into a refusal naming the fields, and
// its status: 413 for a record over schemas.MaxRecordBytes, else 400.
func recordError(err error) (int, *APIError) {
	if errors.Is(err, schemas.ErrTooLarge) {
		return http.StatusRequestEntityTooLarge, apiErr(CodeBodyTooLarge, err.Error())
	}
	e := apiErr(CodeInvalidRecord, err.Error())
	var ve *schemas.ValidationError
	if errors.As(err, &ve) {
		e.Fields = make([]FieldProblem, len(ve.Errors))
		for i, fe := range ve.Errors {
			e.Fields[i] = FieldProblem{Field: fe.Field, Problem: fe.Problem}
		}
	}
	return http.StatusBadRequest, e
}

// writeError answers with an error body. retryAfter > 0 sets Retry-After
// in whole seconds, rounded up.
func writeError(w http.ResponseWriter, status int, e *APIError, retryAfter time.Duration) {
	if retryAfter > 0 {
		setRetryAfter(w, retryAfter)
	}
	// No HTML escaping: the answer is JSON, not HTML. Encoding strings
	// and slices of strings cannot fail.
	b, err := json.Append(make([]byte, 0, 256), ErrorBody{Error: *e}, 0)
	if err != nil {
		b = []byte(`{"error":{"code":"internal","message":"encode error"}}`)
	}
	writeJSON(w, status, append(b, '\n'))
}

func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
}

// jsonType is the Content-Type header value, shared by every answer
// (net/http only reads it).
var jsonType = []string{"application/json"}

// writeJSON writes a JSON body. A body under net/http's chunking buffer
// gets its Content-Length from the server; a larger one is declared here,
// so no answer is chunked.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonType
	if len(body) >= 2048 {
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// appendAPIError appends e as a JSON object.
func appendAPIError(b []byte, e *APIError) []byte {
	out, err := json.Append(b, e, 0)
	if err != nil {
		return append(b, `{"code":"internal","message":"encode error"}`...)
	}
	return out
}
