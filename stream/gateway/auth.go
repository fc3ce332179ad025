package gateway

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
	"golang.org/x/time/rate"
)

// Scope names what an API key may do.
type Scope string

// The scopes. A key without a route's scope gets 403 there.
const (
	// ScopeOrdersWrite allows POST /v1/orders.
	ScopeOrdersWrite Scope = "orders:write"
	// ScopeEventsWrite allows POST /v1/events and /v1/events:batch.
	ScopeEventsWrite Scope = "events:write"
	// ScopeReportsRead allows reading the campaign page and its report
	// API (surge ui); it writes nothing, so the gateway's routes refuse it.
	ScopeReportsRead Scope = "reports:read"
)

// ErrInvalidKeys is wrapped by every error about a keys file or a Key.
var ErrInvalidKeys = errors.New("invalid API keys")

// Key is one API key as it is kept at rest: a name, the SHA-256 of the
// secret (never the secret itself) and what it may do. The keys file is
// YAML:
//
//	keys:
//	  - name: webshop
//	    sha256: 4c8f...e1   # surge gateway hash-key prints it
//	    scopes: [orders:write, events:write]
//	    rate: 5000          # optional: records/s, overrides the gateway's default
//	    burst: 10000        # optional
type Key struct {
	// Name identifies the key in logs and metrics and namespaces its
	// idempotency keys; letters, digits, '.', '_' and '-'.
	Name string `yaml:"name"`
	// SHA256 is the hex SHA-256 of the secret (HashKey).
	SHA256 string `yaml:"sha256"`
	// Scopes are what the key may write.
	Scopes []Scope `yaml:"scopes"`
	// Rate is the key's token bucket in records/s; 0 keeps the gateway's
	// default (WithRateLimit).
	Rate float64 `yaml:"rate,omitempty"`
	// Burst is the bucket's size in records; 0 means max(Rate, max batch
	// items).
	Burst int `yaml:"burst,omitempty"`
}

// Keys is a validated set of API keys.
type Keys struct {
	keys []parsedKey
}

type parsedKey struct {
	Key
	hash   [sha256.Size]byte
	scopes scopeSet
}

type scopeSet uint8

const (
	scopeOrders scopeSet = 1 << iota
	scopeEvents
	scopeReports
)

func (s Scope) bit() scopeSet {
	switch s {
	case ScopeOrdersWrite:
		return scopeOrders
	case ScopeEventsWrite:
		return scopeEvents
	case ScopeReportsRead:
		return scopeReports
	}
	return 0
}

func (s scopeSet) has(want scopeSet) bool { return s&want == want }

// HashKey returns the hex SHA-256 of an API key's secret, the form the
// keys file holds.
func HashKey(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// GenerateKey returns a new random API key secret: "sk_" and 43 characters
// of URL-safe base64 (256 random bits).
func GenerateKey() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate API key: %w", err)
	}
	return "sk_" + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// LoadKeys reads and validates a keys file.
func LoadKeys(path string) (*Keys, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read API keys: %w", err)
	}
	k, err := ParseKeys(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ParseKeys parses and validates the YAML of a keys file. Unknown fields
// are refused, so that a secret pasted under a wrong name ("key:") is
// caught rather than ignored.
func ParseKeys(data []byte) (*Keys, error) {
	var file struct {
		Keys []Key `yaml:"keys"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKeys, err)
	}
	return NewKeys(file.Keys...)
}

// NewKeys validates keys: at least one, unique names and hashes, hashes of
// 64 hex digits, known scopes, non-negative rates.
func NewKeys(keys ...Key) (*Keys, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no keys", ErrInvalidKeys)
	}
	out := &Keys{keys: make([]parsedKey, 0, len(keys))}
	names := map[string]bool{}
	hashes := map[[sha256.Size]byte]bool{}
	for i, k := range keys {
		pk, err := parseKey(k)
		if err != nil {
			return nil, fmt.Errorf("%w: keys[%d]: %v", ErrInvalidKeys, i, err)
		}
		if names[k.Name] {
			return nil, fmt.Errorf("%w: keys[%d]: duplicate name %q", ErrInvalidKeys, i, k.Name)
		}
		if hashes[pk.hash] {
			return nil, fmt.Errorf("%w: keys[%d] (%s): same hash as another key", ErrInvalidKeys, i, k.Name)
		}
		names[k.Name], hashes[pk.hash] = true, true
		out.keys = append(out.keys, pk)
	}
	return out, nil
}

func parseKey(k Key) (parsedKey, error) {
	pk := parsedKey{Key: k}
	if !validName(k.Name) {
		return pk, fmt.Errorf("name %q: want 1-64 letters, digits, '.', '_' or '-'", k.Name)
	}
	b, err := hex.DecodeString(k.SHA256)
	if err != nil || len(b) != sha256.Size {
		return pk, fmt.Errorf("%s: sha256 must be 64 hex digits (surge gateway hash-key prints it), not the key itself", k.Name)
	}
	copy(pk.hash[:], b)
	if len(k.Scopes) == 0 {
		return pk, fmt.Errorf("%s: no scopes; want one or more of %s, %s, %s", k.Name, ScopeOrdersWrite, ScopeEventsWrite, ScopeReportsRead)
	}
	for _, s := range k.Scopes {
		b := s.bit()
		if b == 0 {
			return pk, fmt.Errorf("%s: unknown scope %q; want %s, %s or %s", k.Name, s, ScopeOrdersWrite, ScopeEventsWrite, ScopeReportsRead)
		}
		pk.scopes |= b
	}
	if k.Rate < 0 || k.Burst < 0 {
		return pk, fmt.Errorf("%s: rate and burst must not be negative", k.Name)
	}
	return pk, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// With returns a new set holding k's keys (k may be nil) and more,
// validated like NewKeys.
func (k *Keys) With(more ...Key) (*Keys, error) {
	var all []Key
	if k != nil {
		for _, pk := range k.keys {
			all = append(all, pk.Key)
		}
	}
	return NewKeys(append(all, more...)...)
}

// Len is the number of keys.
func (k *Keys) Len() int { return len(k.keys) }

// Names returns the keys' names in file order.
func (k *Keys) Names() []string {
	out := make([]string, len(k.keys))
	for i, pk := range k.keys {
		out[i] = pk.Name
	}
	return out
}

// Authorize checks an API key's secret against the set: it returns the
// matching key's name, and whether that key holds scope. The comparison
// takes the same time whichever key (if any) matches. name is "" when no
// key matches.
func (k *Keys) Authorize(secret string, scope Scope) (name string, ok bool) {
	i := k.lookup(secret)
	if i < 0 {
		return "", false
	}
	pk := k.keys[i]
	b := scope.bit()
	return pk.Name, b != 0 && pk.scopes.has(b)
}

// Credential returns the API key a request carries, as the gateway reads
// it ("Authorization: Bearer KEY" or "X-API-Key: KEY"), and whether the
// request carries any credential at all.
func Credential(r *http.Request) (string, bool) { return credential(r) }

// lookup returns the index of the key whose hash matches secret's, or -1.
// It compares against every key in constant time, so the time taken does
// not depend on which key (if any) matched.
func (k *Keys) lookup(secret string) int {
	h := sha256.Sum256([]byte(secret))
	found := -1
	for i := range k.keys {
		if subtle.ConstantTimeCompare(h[:], k.keys[i].hash[:]) == 1 {
			found = i
		}
	}
	return found
}

// principal is who is calling: a key (or "anonymous" without auth), its
// scopes and its token bucket (nil: no limit).
type principal struct {
	name   string
	scopes scopeSet
	lim    *rate.Limiter
}

// newPrincipals builds one principal per key, with its token bucket.
func newPrincipals(keys *Keys, defRate float64, defBurst, maxBatch int) []*principal {
	out := make([]*principal, len(keys.keys))
	for i, pk := range keys.keys {
		out[i] = &principal{name: pk.Name, scopes: pk.scopes, lim: newLimiter(pk.Rate, pk.Burst, defRate, defBurst, maxBatch)}
	}
	return out
}

func newLimiter(r float64, burst int, defRate float64, defBurst, maxBatch int) *rate.Limiter {
	if r == 0 {
		r, burst = defRate, defBurst
	}
	if r == 0 {
		return nil
	}
	if burst == 0 {
		burst = max(int(r), maxBatch)
	}
	return rate.NewLimiter(rate.Limit(r), burst)
}

// credential returns the API key a request carries ("Authorization:
// Bearer KEY" or "X-API-Key: KEY") and whether it carries any credential
// at all; another Authorization scheme counts as given but empty.
func credential(r *http.Request) (string, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		if scheme, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok), true
		}
		return "", true
	}
	k := r.Header.Get("X-API-Key")
	return k, k != ""
}
