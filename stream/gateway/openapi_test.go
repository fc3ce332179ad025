package gateway

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/segmentio/encoding/json"
)

// The OpenAPI document parses, describes every route the gateway serves
// with its method and the statuses it answers, and every $ref resolves.
func TestOpenAPI(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.0.") {
		t.Errorf("got openapi %q, want 3.0.x", v)
	}
	paths, _ := doc["paths"].(map[string]any)
	wantStatuses := map[string][]string{
		"/v1/orders":       {"202", "400", "401", "403", "408", "409", "413", "415", "429", "503"},
		"/v1/events":       {"202", "400", "401", "403", "408", "409", "413", "415", "429", "503"},
		"/v1/events:batch": {"202", "400", "401", "403", "408", "409", "413", "415", "429", "503"},
		"/readyz":          {"200", "503"},
	}
	for path, rt := range routes {
		p, ok := paths[path].(map[string]any)
		if !ok {
			t.Errorf("route %s is not described", path)
			continue
		}
		op, ok := p[strings.ToLower(rt.method)].(map[string]any)
		if !ok {
			t.Errorf("route %s: method %s is not described", path, rt.method)
			continue
		}
		responses, _ := op["responses"].(map[string]any)
		for _, st := range wantStatuses[path] {
			if _, ok := responses[st]; !ok {
				t.Errorf("%s %s: status %s is not described", rt.method, path, st)
			}
		}
	}
	for path := range paths {
		if _, ok := routes[path]; !ok {
			t.Errorf("openapi.json describes %s, which the gateway does not serve", path)
		}
	}
	// The server URL is relative: right whatever --addr the gateway has.
	for _, sv := range doc["servers"].([]any) {
		if u, _ := sv.(map[string]any)["url"].(string); !strings.HasPrefix(u, "/") {
			t.Errorf("server URL %q: want a relative URL (the gateway serving the document)", u)
		}
	}
	var refs []string
	collectRefs(doc, &refs)
	if len(refs) < 20 {
		t.Errorf("got %d $refs, want the document to use its components", len(refs))
	}
	for _, ref := range refs {
		if !resolves(doc, ref) {
			t.Errorf("$ref %s does not resolve", ref)
		}
	}
	// Every error code the gateway uses is listed.
	codes := []string{CodeUnauthorized, CodeForbidden, CodeNotFound, CodeMethodNotAllowed, CodeUnsupportedMediaType,
		CodeBodyTooLarge, CodeTooManyItems, CodeInvalidRecord, CodeInvalidBatch, CodeWrongKind, CodeInvalidIdempotencyKey,
		CodeIdempotencyConflict, CodeIdempotencyInProgress, CodeRateLimited, CodeOverloaded, CodeKafkaTimeout,
		CodeKafkaUnavailable, CodeShuttingDown, CodeNotReady, CodeUnsupportedEncoding, CodeRequestTimeout, CodeIncompleteBody,
		CodeInvalidEncoding}
	enum := lookup(doc, "#/components/schemas/APIError").(map[string]any)["properties"].(map[string]any)["code"].(map[string]any)["enum"].([]any)
	for _, c := range codes {
		if !slices.Contains(enum, any(c)) {
			t.Errorf("error code %q is not in the APIError enum", c)
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	c := cluster(t)
	g := startGateway(t, c.ListenAddrs())
	r := do(t, http.MethodGet, g.url+"/openapi.json", nil)
	if r.status != http.StatusOK || string(r.body) != string(OpenAPI()) || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("/openapi.json: got %d %q, want 200 with the embedded document", r.status, r.header.Get("Content-Type"))
	}
}

func collectRefs(v any, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "$ref" {
				*out = append(*out, s)
				continue
			}
			collectRefs(e, out)
		}
	case []any:
		for _, e := range x {
			collectRefs(e, out)
		}
	}
}

func lookup(doc map[string]any, ref string) any {
	var cur any = doc
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

func resolves(doc map[string]any, ref string) bool {
	return strings.HasPrefix(ref, "#/") && lookup(doc, ref) != nil
}
