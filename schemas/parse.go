package schemas

import (
	"bytes"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/segmentio/encoding/json"
)

// MaxDepth is the deepest nesting of arrays and objects a record may have.
// Surge's own fields need 3 levels; the rest is room for unknown fields.
const MaxDepth = 32

// parseFlags: raw field values are slices of the input (the decoder copies
// them into strings), and keys match exactly, never case-insensitively.
const parseFlags = json.ZeroCopy | json.DontMatchCaseInsensitiveStructFields

// rawRecord receives every field of every kind as raw JSON, so that each
// field's presence and JSON type can be checked and reported by name.
type rawRecord struct {
	Kind           json.RawMessage `json:"kind"`
	V              json.RawMessage `json:"v"`
	EventID        json.RawMessage `json:"event_id"`
	OrderID        json.RawMessage `json:"order_id"`
	UserID         json.RawMessage `json:"user_id"`
	Items          json.RawMessage `json:"items"`
	Amount         json.RawMessage `json:"amount"`
	Currency       json.RawMessage `json:"currency"`
	CampaignID     json.RawMessage `json:"campaign_id"`
	Priority       json.RawMessage `json:"priority"`
	CouponID       json.RawMessage `json:"coupon_id"`
	CreatedAt      json.RawMessage `json:"created_at"`
	Status         json.RawMessage `json:"status"`
	TS             json.RawMessage `json:"ts"`
	SessionID      json.RawMessage `json:"session_id"`
	Type           json.RawMessage `json:"type"`
	SKU            json.RawMessage `json:"sku"`
	RuleID         json.RawMessage `json:"rule_id"`
	Value          json.RawMessage `json:"value"`
	IssuedAt       json.RawMessage `json:"issued_at"`
	ExpiresAt      json.RawMessage `json:"expires_at"`
	TriggerEventID json.RawMessage `json:"trigger_event_id"`

	// scratch space for items, reused through rawPool
	items []rawItem
	elems []json.RawMessage
	item  rawItem
}

type rawItem struct {
	SKU       json.RawMessage `json:"sku"`
	Qty       json.RawMessage `json:"qty"`
	UnitPrice json.RawMessage `json:"unit_price"`
}

var rawPool = sync.Pool{New: func() any { return new(rawRecord) }}

func releaseRaw(r *rawRecord) {
	items, elems := r.items, r.elems
	clear(items[:cap(items)]) // drop references to the input
	clear(elems[:cap(elems)])
	if cap(items) > 64 {
		items = nil
	}
	if cap(elems) > 64 {
		elems = nil
	}
	*r = rawRecord{items: items[:0], elems: elems[:0]}
	rawPool.Put(r)
}

// parse runs the checks on the record as a whole (size, UTF-8, nesting, JSON
// syntax, a single top-level object) and splits it into raw field values.
func parse(data []byte, k Kind) (*rawRecord, error) {
	if len(data) > MaxRecordBytes {
		return nil, &tooLargeError{size: len(data)}
	}
	i := 0
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	if i == len(data) {
		return nil, invalid(k, "", "empty record")
	}
	if data[i] != '{' {
		return nil, invalid(k, "", notObject(data[i:]))
	}
	if !utf8.Valid(data) {
		return nil, invalid(k, "", "invalid UTF-8 at byte "+strconv.Itoa(badUTF8(data)))
	}
	if bytes.Count(data, []byte{'{'})+bytes.Count(data, []byte{'['}) > MaxDepth && depth(data) > MaxDepth {
		return nil, invalid(k, "", "nested more than "+strconv.Itoa(MaxDepth)+" levels deep")
	}
	raw := rawPool.Get().(*rawRecord)
	rest, err := json.Parse(data, raw, parseFlags)
	switch {
	case err != nil && len(rest) == 0:
		err = invalid(k, "", "truncated JSON: unexpected end of input")
	case err != nil:
		err = invalid(k, "", "malformed JSON near byte "+strconv.Itoa(len(data)-len(rest)))
	case len(rest) != 0:
		err = invalid(k, "", "unexpected data after the JSON object at byte "+strconv.Itoa(len(data)-len(rest)))
	default:
		if field, problem := strictCheck(data); problem != "" {
			err = invalid(k, field, problem)
		}
	}
	if err != nil {
		releaseRaw(raw)
		return nil, err
	}
	return raw, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// notObject describes a top-level value that is not an object.
func notObject(b []byte) string {
	if !json.Valid(b) {
		return "malformed JSON: want an object starting with '{'"
	}
	switch b[0] {
	case 'n':
		return "must be a JSON object, got null"
	case '[':
		return "must be a JSON object, got an array"
	case '"':
		return "must be a JSON object, got a string"
	case 't', 'f':
		return "must be a JSON object, got a boolean"
	}
	return "must be a JSON object, got a number"
}

func badUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// depth returns the deepest nesting of arrays and objects in b, stopping
// early once it exceeds MaxDepth. Brackets inside strings do not count.
func depth(b []byte) int {
	d, maxd := 0, 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			if d++; d > maxd {
				if maxd = d; maxd > MaxDepth {
					return maxd
				}
			}
		case '}', ']':
			d--
		}
	}
	return maxd
}
