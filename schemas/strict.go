package schemas

import (
	"bytes"
	"strconv"

	"github.com/segmentio/encoding/json"
)

// strictCheck walks a record that is already known to be syntactically
// valid JSON (one object, nested at most MaxDepth levels) and reports the
// first of two things the JSON parser lets through:
//
//   - a key that appears twice in one object, at any depth: a parser keeps
//     the last value, so `"amount":-5,"amount":49900` would pass with the
//     first, invalid, value silently dropped;
//   - a \u escape of a lone UTF-16 surrogate (\ud800 without its low half,
//     or a low half alone): a parser replaces it with U+FFFD, so different
//     invalid ids would collapse into one.
//
// It returns the JSON path of the field ("amount", "items[0].sku",
// "extra.a") and the problem; both are empty when the record is fine.
// Records in canonical form never reach it: their keys come in a fixed
// order, once each, and their strings have no escapes.
func strictCheck(data []byte) (field, problem string) {
	s := strictScanner{b: data}
	s.skipSpace()
	s.value()
	if s.problem == "" {
		return "", ""
	}
	return s.pathString(), s.problem
}

// strictScanner is strictCheck's state: the input, the position, the path
// to the value being read, and the first problem found.
type strictScanner struct {
	b       []byte
	i       int
	path    []pathElem
	problem string
	keys    [][]byte // the keys of the objects being read, as a stack
}

type pathElem struct {
	key   []byte // nil for an array element
	index int
}

func (s *strictScanner) skipSpace() {
	for s.i < len(s.b) && isSpace(s.b[s.i]) {
		s.i++
	}
}

// value reads one value starting at s.i.
func (s *strictScanner) value() {
	if s.i >= len(s.b) || s.problem != "" {
		return
	}
	switch s.b[s.i] {
	case '{':
		s.object()
	case '[':
		s.array()
	case '"':
		s.str()
	default: // number, true, false, null
		for s.i < len(s.b) {
			switch c := s.b[s.i]; {
			case c == ',' || c == '}' || c == ']' || isSpace(c):
				return
			}
			s.i++
		}
	}
}

func (s *strictScanner) object() {
	s.i++ // {
	base := len(s.keys)
	defer func() { s.keys = s.keys[:base] }()
	var seen map[string]struct{} // for objects with many keys
	for s.problem == "" {
		s.skipSpace()
		if s.i >= len(s.b) || s.b[s.i] == '}' {
			s.i++
			return
		}
		if s.b[s.i] == ',' {
			s.i++
			continue
		}
		start := s.i
		s.str()
		if s.problem != "" {
			return
		}
		key := s.b[start+1 : s.i-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var k string
			if err := json.Unmarshal(s.b[start:s.i], &k); err == nil {
				key = []byte(k)
			}
		}
		s.path = append(s.path, pathElem{key: key})
		if s.duplicate(key, base, &seen) {
			s.problem = "duplicate key: it appears more than once in the object; send each field once"
			return
		}
		s.skipSpace()
		s.i++ // :
		s.skipSpace()
		s.value()
		if s.problem != "" {
			return
		}
		s.path = s.path[:len(s.path)-1]
	}
}

// duplicate reports whether key was seen before in the object whose keys
// start at s.keys[base], and records it.
func (s *strictScanner) duplicate(key []byte, base int, seen *map[string]struct{}) bool {
	const linear = 16
	if *seen == nil {
		for _, k := range s.keys[base:] {
			if bytes.Equal(k, key) {
				return true
			}
		}
		s.keys = append(s.keys, key)
		if len(s.keys)-base > linear {
			*seen = make(map[string]struct{}, 2*linear)
			for _, k := range s.keys[base:] {
				(*seen)[string(k)] = struct{}{}
			}
		}
		return false
	}
	if _, dup := (*seen)[string(key)]; dup {
		return true
	}
	(*seen)[string(key)] = struct{}{}
	return false
}

func (s *strictScanner) array() {
	s.i++ // [
	n := 0
	s.path = append(s.path, pathElem{index: 0})
	for s.problem == "" {
		s.skipSpace()
		if s.i >= len(s.b) || s.b[s.i] == ']' {
			s.i++
			s.path = s.path[:len(s.path)-1]
			return
		}
		if s.b[s.i] == ',' {
			s.i++
			n++
			continue
		}
		s.path[len(s.path)-1].index = n
		s.value()
	}
}

// str reads a string, checking its \u escapes for lone surrogates.
func (s *strictScanner) str() {
	s.i++ // opening quote
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '"':
			s.i++
			return
		case '\\':
			if s.i+1 < len(s.b) && s.b[s.i+1] == 'u' {
				if !s.escape() {
					return
				}
				continue
			}
			s.i += 2
		default:
			s.i++
		}
	}
}

// escape reads a \uXXXX escape (and the low half after a high surrogate)
// and reports whether it was a whole character.
func (s *strictScanner) escape() bool {
	r := hex4(s.b, s.i+2)
	s.i += 6
	switch {
	case r >= 0xdc00 && r <= 0xdfff:
		s.problem = "lone surrogate escape \\u" + strconv.FormatInt(int64(r), 16) + ": not a Unicode character (a low surrogate without its high half)"
		return false
	case r >= 0xd800 && r <= 0xdbff:
		if s.i+6 <= len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
			if lo := hex4(s.b, s.i+2); lo >= 0xdc00 && lo <= 0xdfff {
				s.i += 6
				return true
			}
		}
		s.problem = "lone surrogate escape \\u" + strconv.FormatInt(int64(r), 16) + ": not a Unicode character (a high surrogate without its low half)"
		return false
	}
	return true
}

// hex4 reads four hex digits at b[i:], or returns -1.
func hex4(b []byte, i int) int {
	if i+4 > len(b) {
		return -1
	}
	n := 0
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | int(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | int(c-'a'+10)
		case c >= 'A' && c <= 'F':
			n = n<<4 | int(c-'A'+10)
		default:
			return -1
		}
	}
	return n
}

// pathString renders the path as "items[0].sku"; "" for the record itself.
func (s *strictScanner) pathString() string {
	var b []byte
	for _, e := range s.path {
		if e.key == nil {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(e.index), 10)
			b = append(b, ']')
			continue
		}
		if len(b) > 0 {
			b = append(b, '.')
		}
		b = append(b, e.key...)
	}
	return string(b)
}
