package gateway

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRateLimit(t *testing.T) {
	c := cluster(t)
	addrs := c.ListenAddrs()
	g := startGateway(t, addrs) // the key "slow" has 1 record/s, bursts of 2
	for i := range 2 {
		post(t, g.url, "/v1/orders", orderJSON(), auth(slowSecret)...).accepted(t)
		_ = i
	}
	r := post(t, g.url, "/v1/orders", orderJSON(), auth(slowSecret)...)
	if r.status != http.StatusTooManyRequests || r.errorBody(t).Code != CodeRateLimited {
		t.Fatalf("third order within a second: got %d %s, want 429 %s", r.status, r.body, CodeRateLimited)
	}
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("got Retry-After %q, want a positive number of seconds", r.header.Get("Retry-After"))
	}
	// A batch larger than the bucket can ever hold is refused too.
	batch := "[" + eventJSON("u-1", "") + "," + eventJSON("u-1", "") + "," + eventJSON("u-1", "") + "]"
	time.Sleep(1100 * time.Millisecond)
	if r := post(t, g.url, "/v1/events:batch", []byte(batch), auth(slowSecret)...); r.status != http.StatusTooManyRequests {
		t.Errorf("batch over the burst: got %d %s, want 429", r.status, r.body)
	}
	// Other keys have their own bucket.
	post(t, g.url, "/v1/orders", orderJSON(), auth(shopSecret)...).accepted(t)
	if got := dataRecords(t, addrs); got != 3 {
		t.Errorf("Kafka holds %d records, want 3 (nothing for the refused requests)", got)
	}
}

// Bytes on their way to Kafka are bounded: past the bound, requests are
// refused at once with 503, and nothing of them is written.
func TestInFlightBound(t *testing.T) {
	c := cluster(t)
	addrs := c.ListenAddrs()
	g := startGateway(t, addrs, WithMaxInFlightBytes(1000), WithProduceTimeout(3*time.Second))
	post(t, g.url, "/v1/orders", orderJSON(), auth(shopSecret)...).accepted(t) // warm up

	release := stallProduce(c)
	defer release()
	first := make(chan resp, 1)
	go func() { first <- post(t, g.url, "/v1/orders", orderJSON(), auth(shopSecret)...) }()
	deadline := time.Now().Add(5 * time.Second)
	for g.inflight.cur.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	for _, body := range [][]byte{orderJSON("pad", `"`+strings.Repeat("x", 800)+`"`), []byte("[" + eventJSON("u-9", `"pad":"`+strings.Repeat("y", 900)+`"`) + "]")} {
		path := "/v1/orders"
		if body[0] == '[' {
			path = "/v1/events:batch"
		}
		start := time.Now()
		r := post(t, g.url, path, body, auth(shopSecret)...)
		if r.status != http.StatusServiceUnavailable || r.errorBody(t).Code != CodeOverloaded {
			t.Fatalf("%s over the in-flight bound: got %d %s, want 503 %s", path, r.status, r.body, CodeOverloaded)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("%s: the 503 took %v, want it at once", path, took)
		}
		if r.header.Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", path)
		}
	}
	release()
	(<-first).accepted(t)
	if got := dataRecords(t, addrs); got != 2 {
		t.Errorf("Kafka holds %d records, want 2 (nothing of the refused requests)", got)
	}
	if got := g.inflight.cur.Load(); got != 0 {
		t.Errorf("in-flight bytes after every answer: got %d, want 0", got)
	}
}

func TestMediaType(t *testing.T) {
	tests := []struct {
		ct       string
		batch    bool
		wantOK   bool
		wantKind bodyKind
	}{
		{"application/json", false, true, bodyJSON},
		{"application/json; charset=utf-8", false, true, bodyJSON},
		{"Application/JSON; charset=UTF-8", false, true, bodyJSON},
		{"application/json; charset=iso-8859-1", false, false, 0},
		{"application/x-ndjson", true, true, bodyNDJSON},
		{"application/x-ndjson", false, false, 0},
		{"text/plain", false, false, 0},
		{"", false, false, 0},
		{"application/json;;", false, false, 0},
	}
	for _, tt := range tests {
		kind, ok := mediaType(tt.ct, tt.batch)
		if ok != tt.wantOK || (ok && kind != tt.wantKind) {
			t.Errorf("mediaType(%q, batch %v): got %v %v, want %v %v", tt.ct, tt.batch, kind, ok, tt.wantKind, tt.wantOK)
		}
	}
}

func TestSplitBatch(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		kind    bodyKind
		want    []string
		wantErr string
	}{
		{"array", `[{"a":1}, {"b":"]}"} ,3]`, bodyJSON, []string{`{"a":1}`, `{"b":"]}"}`, `3`}, ""},
		{"escaped quote in a string", `[{"a":"x\"]"}]`, bodyJSON, []string{`{"a":"x\"]"}`}, ""},
		{"nested", `[{"a":[{"b":[]}]}]`, bodyJSON, []string{`{"a":[{"b":[]}]}`}, ""},
		{"invalid UTF-8 stays inside its item", "[{\"a\":\"\xff\"},{}]", bodyJSON, []string{"{\"a\":\"\xff\"}", `{}`}, ""},
		{"ndjson with blank lines and CRLF", "{\"a\":1}\r\n\n  \n{\"b\":2}", bodyNDJSON, []string{`{"a":1}`, `{"b":2}`}, ""},
		{"ndjson keeps a broken line as an item", "{\"a\":1}\n{\"b\":", bodyNDJSON, []string{`{"a":1}`, `{"b":`}, ""},
		{"empty array", `[]`, bodyJSON, nil, "no items"},
		{"empty body", ``, bodyJSON, nil, "empty body"},
		{"object", `{"a":1}`, bodyJSON, nil, "single object"},
		{"missing comma", `[{} {}]`, bodyJSON, nil, "want ',' or ']'"},
		{"trailing comma", `[{},]`, bodyJSON, nil, "missing value"},
		{"unterminated string", `[{"a":"x}]`, bodyJSON, nil, "unterminated string"},
		{"unclosed object", `[{"a":1]`, bodyJSON, nil, "truncated"},
		{"data after", `[{}] x`, bodyJSON, nil, "after the JSON array"},
		{"too many", `[1,2,3,4]`, bodyJSON, nil, "too many items"},
		{"too many lines", "1\n2\n3\n4", bodyNDJSON, nil, "too many items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := splitBatch([]byte(tt.body), tt.kind, 3)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d items %q, want %q", len(got), got, tt.want)
			}
			for i := range got {
				if string(got[i]) != tt.want[i] {
					t.Errorf("item %d: got %q, want %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}
