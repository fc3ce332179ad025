package gateway

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/segmentio/encoding/json"
)

// requestExample is one example request body of the OpenAPI document.
type requestExample struct {
	path, contentType, name string
	value                   any
}

// requestExamples returns every example of every request body, failing the
// test for a request body without one.
func requestExamples(t *testing.T, doc map[string]any) []requestExample {
	t.Helper()
	var out []requestExample
	paths := doc["paths"].(map[string]any)
	for _, path := range slices.Sorted(func(yield func(string) bool) {
		for p := range paths {
			if !yield(p) {
				return
			}
		}
	}) {
		post, ok := paths[path].(map[string]any)["post"].(map[string]any)
		if !ok {
			continue
		}
		content := post["requestBody"].(map[string]any)["content"].(map[string]any)
		for ct, media := range content {
			examples, _ := media.(map[string]any)["examples"].(map[string]any)
			if len(examples) == 0 {
				t.Errorf("POST %s %s: no request example", path, ct)
			}
			for name, ex := range examples {
				out = append(out, requestExample{path, ct, name, ex.(map[string]any)["value"]})
			}
		}
	}
	return out
}

func (ex requestExample) body(t *testing.T) []byte {
	t.Helper()
	if s, ok := ex.value.(string); ok {
		return []byte(s)
	}
	b, err := json.Marshal(ex.value)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every request example of the OpenAPI document is accepted by the gateway
// as it stands (202, every batch item accepted), and for each record schema
// the gateway refuses the example without any field the schema lists as
// required: the document and the gateway agree.
func TestOpenAPIExamples(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	c := cluster(t)
	g := startGateway(t, c.ListenAddrs())
	examples := requestExamples(t, doc)
	if len(examples) < 4 {
		t.Fatalf("got %d request examples, want at least one per request body", len(examples))
	}
	seq := 0
	post := func(ex requestExample, body []byte) resp {
		seq++ // a fresh idempotency key: each request is its own
		return post(t, g.url, ex.path, body, append(auth(shopSecret), "Content-Type", ex.contentType,
			"Idempotency-Key", fmt.Sprintf("openapi-example-%d", seq))...)
	}
	schemaOf := map[string]string{"order": "Order", "user_event": "UserEvent", "order_status": "OrderStatus"}
	checked := map[string]bool{}
	for _, ex := range examples {
		t.Run(ex.path+" "+ex.contentType+" "+ex.name, func(t *testing.T) {
			r := post(ex, ex.body(t))
			if r.status != http.StatusAccepted {
				t.Fatalf("got %d, want 202: %s", r.status, r.body)
			}
			if strings.HasSuffix(ex.path, ":batch") {
				if b := r.batch(t); b.Rejected+b.Failed != 0 {
					t.Errorf("got %d rejected and %d failed items, want all accepted: %s", b.Rejected, b.Failed, r.body)
				}
				return
			}
			rec := ex.value.(map[string]any)
			kind, _ := rec["kind"].(string)
			if kind == "" {
				kind = "user_event"
			}
			name := schemaOf[kind]
			if checked[name] {
				return
			}
			checked[name] = true
			required := lookup(doc, "#/components/schemas/"+name).(map[string]any)["required"].([]any)
			if !slices.Contains(required, any("v")) {
				t.Errorf("schema %s: v is not required, but the gateway refuses records without it", name)
			}
			for _, f := range required {
				field := f.(string)
				without := map[string]any{}
				for k, v := range rec {
					if k != field {
						without[k] = v
					}
				}
				b, _ := json.Marshal(without)
				r := post(ex, b)
				if r.status != http.StatusBadRequest {
					t.Errorf("%s without the required %s: got %d, want 400: %s", name, field, r.status, r.body)
					continue
				}
				if field == "kind" {
					continue // an order_status without kind reads as a user_event, which lacks other fields
				}
				if e := r.errorBody(t); !slices.ContainsFunc(e.Fields, func(p FieldProblem) bool { return p.Field == field }) {
					t.Errorf("%s without %s: got fields %+v, want one naming %s", name, field, e.Fields, field)
				}
			}
		})
	}
	for _, name := range []string{"Order", "UserEvent", "OrderStatus"} {
		if !checked[name] {
			t.Errorf("no request example of schema %s", name)
		}
	}
}
