package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/segmentio/encoding/json"

	"github.com/surgeio/surge/stream"
)

// errTooManyItems is splitBatch's error for a batch over the item limit.
var errTooManyItems = errors.New("too many items")

// splitBatch cuts a batch body into its items without decoding them, so
// that each item is decoded (and refused) on its own: a JSON array, or
// NDJSON (one object per line, blank lines ignored). Only a body whose
// items cannot be told apart is an error.
func splitBatch(body []byte, kind bodyKind, maxItems int) ([][]byte, error) {
	var items [][]byte
	var err error
	if kind == bodyNDJSON {
		items, err = splitLines(body, maxItems)
	} else {
		items, err = splitArray(body, maxItems)
	}
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, errors.New("the batch holds no items")
	}
	return items, nil
}

func splitLines(body []byte, maxItems int) ([][]byte, error) {
	var items [][]byte
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		if line = bytes.TrimSpace(line); len(line) == 0 {
			continue
		}
		if len(items) == maxItems {
			return nil, errTooManyItems
		}
		items = append(items, line)
	}
	return items, nil
}

// splitArray cuts a JSON array into its elements. It checks only the
// array's own syntax (brackets, commas, strings); each element is checked
// when it is decoded.
func splitArray(b []byte, maxItems int) ([][]byte, error) {
	i := skipSpace(b, 0)
	if i == len(b) {
		return nil, errors.New("empty body; want a JSON array of events or NDJSON")
	}
	if b[i] != '[' {
		return nil, fmt.Errorf("want a JSON array of events (or NDJSON with Content-Type application/x-ndjson), got %s", describeStart(b[i]))
	}
	i = skipSpace(b, i+1)
	var items [][]byte
	if i < len(b) && b[i] == ']' {
		i++
	} else {
		for {
			end, err := valueEnd(b, i)
			if err != nil {
				return nil, err
			}
			if len(items) == maxItems {
				return nil, errTooManyItems
			}
			items = append(items, b[i:end])
			i = skipSpace(b, end)
			if i == len(b) {
				return nil, errors.New("truncated JSON array: unexpected end of input")
			}
			if b[i] == ']' {
				i++
				break
			}
			if b[i] != ',' {
				return nil, fmt.Errorf("malformed JSON array near byte %d: want ',' or ']'", i)
			}
			i = skipSpace(b, i+1)
		}
	}
	if i = skipSpace(b, i); i != len(b) {
		return nil, fmt.Errorf("unexpected data after the JSON array at byte %d", i)
	}
	return items, nil
}

// valueEnd returns the end of the JSON value starting at b[i]: matching
// brackets outside strings for objects and arrays, the closing quote for
// strings, the next delimiter for anything else.
func valueEnd(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errors.New("truncated JSON array: unexpected end of input")
	}
	switch b[i] {
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, err := stringEnd(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errors.New("truncated JSON array: unexpected end of input")
	case '"':
		return stringEnd(b, i)
	case ',', ']':
		return 0, fmt.Errorf("malformed JSON array near byte %d: missing value", i)
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != ']' && !isSpace(b[j]) {
		j++
	}
	return j, nil
}

// stringEnd returns the index after the closing quote of the string
// starting at b[i].
func stringEnd(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errors.New("truncated JSON array: unterminated string")
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func describeStart(c byte) string {
	switch {
	case c == '{':
		return "a single object (POST it to /v1/events)"
	case c == '"':
		return "a string"
	case c == 'n':
		return "null"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == '-' || c >= '0' && c <= '9':
		return "a number"
	}
	return "malformed JSON"
}

// BatchResult is the body of a /v1/events:batch answer: counts and one
// result per item, in the order of the batch.
type BatchResult struct {
	Accepted int          `json:"accepted"`
	Rejected int          `json:"rejected"`
	Failed   int          `json:"failed"`
	Items    []ItemResult `json:"items"`
}

// ItemResult is the outcome of one batch item. Status is "accepted"
// (Kafka acknowledged it; Replayed when that was for an earlier request
// with the same Idempotency-Key), "rejected" (invalid: fix it, do not
// retry as is) or "failed" (not acknowledged: retry it).
type ItemResult struct {
	Index     int       `json:"index"`
	Status    string    `json:"status"`
	Kind      string    `json:"kind,omitempty"`
	EventID   string    `json:"event_id,omitempty"`
	Topic     string    `json:"topic,omitempty"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Replayed  bool      `json:"replayed,omitempty"`
	Error     *APIError `json:"error,omitempty"`
}

// Accepted is the body of a 202 from /v1/orders and /v1/events: where
// Kafka stored the record. A retry with the same idempotency key gets the
// same body, with the header Idempotent-Replayed: true.
type Accepted struct {
	Status    string `json:"status"` // "accepted"
	Kind      string `json:"kind"`
	EventID   string `json:"event_id"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// batchStatus is the status of a batch answer: 202 when any item was
// accepted, else 503 when any failed (retry), else 400 (all invalid).
func batchStatus(res []itemResult) (status, accepted, rejected, failed int) {
	for i := range res {
		switch res[i].state {
		case itemAccepted, itemReplayed:
			accepted++
		case itemRejected:
			rejected++
		default:
			failed++
		}
	}
	switch {
	case accepted > 0:
		status = http.StatusAccepted
	case failed > 0:
		status = http.StatusServiceUnavailable
	case allForbidden(res):
		status = http.StatusForbidden
	default:
		status = http.StatusBadRequest
	}
	return status, accepted, rejected, failed
}

// allForbidden reports whether every item was refused for the key's scope.
func allForbidden(res []itemResult) bool {
	for i := range res {
		if res[i].err == nil || res[i].err.Code != CodeForbidden {
			return false
		}
	}
	return len(res) > 0
}

// appendBatch renders a batch answer.
func appendBatch(b []byte, res []itemResult, accepted, rejected, failed int) []byte {
	b = append(b, `{"accepted":`...)
	b = strconv.AppendInt(b, int64(accepted), 10)
	b = append(b, `,"rejected":`...)
	b = strconv.AppendInt(b, int64(rejected), 10)
	b = append(b, `,"failed":`...)
	b = strconv.AppendInt(b, int64(failed), 10)
	b = append(b, `,"items":[`...)
	for i := range res {
		if i > 0 {
			b = append(b, ',')
		}
		r := &res[i]
		b = append(b, `{"index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		switch r.state {
		case itemAccepted, itemReplayed:
			b = append(b, `,"status":"accepted",`...)
			b = appendAckFields(b, string(r.kind), r.eventID, r.ack)
			if r.state == itemReplayed {
				b = append(b, `,"replayed":true`...)
			}
		case itemRejected:
			b = append(b, `,"status":"rejected","error":`...)
			b = appendAPIError(b, r.err)
		default:
			b = append(b, `,"status":"failed","error":`...)
			b = appendAPIError(b, r.err)
		}
		b = append(b, '}')
	}
	return append(b, "]}\n"...)
}

// appendAccepted renders the 202 body of a single record.
func appendAccepted(b []byte, r *itemResult) []byte {
	b = append(b, `{"status":"accepted",`...)
	b = appendAckFields(b, string(r.kind), r.eventID, r.ack)
	return append(b, "}\n"...)
}

func appendAckFields(b []byte, kind, eventID string, a stream.Ack) []byte {
	b = append(b, `"kind":`...)
	b = appendString(b, kind)
	b = append(b, `,"event_id":`...)
	b = appendString(b, eventID)
	b = append(b, `,"topic":`...)
	b = appendString(b, a.Topic)
	b = append(b, `,"partition":`...)
	b = strconv.AppendInt(b, int64(a.Partition), 10)
	b = append(b, `,"offset":`...)
	return strconv.AppendInt(b, a.Offset, 10)
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return json.AppendEscape(b, s, 0)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
