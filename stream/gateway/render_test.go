package gateway

import (
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/segmentio/encoding/json"

	"github.com/surgeio/surge/stream"
)

var update = flag.Bool("update", false, "rewrite golden files")

// The wire form of the answers is fixed by golden files, and decodes into
// the exported types.
func TestAnswersGolden(t *testing.T) {
	res := []itemResult{
		{state: itemAccepted, kind: "user_event", eventID: "ev-1", ack: stream.Ack{Topic: "user-events", Partition: 0, Offset: 0}},
		{state: itemReplayed, kind: "order_status", eventID: "st-\"2\"", ack: stream.Ack{Topic: "orders-priority", Partition: 3, Offset: 17}},
		{state: itemRejected, err: &APIError{Code: CodeInvalidRecord, Message: "invalid user_event: type: unknown event type \"x\"",
			Fields: []FieldProblem{{Field: "type", Problem: "unknown event type \"x\""}}}},
		{state: itemFailed, err: apiErr(CodeKafkaTimeout, "Kafka did not acknowledge within 5s <retry>")},
	}
	status, a, r, f := batchStatus(res)
	batch := appendBatch(nil, res, a, r, f)
	single := appendAccepted(nil, &res[0])
	rec := httptest.NewRecorder()
	writeError(rec, 400, &APIError{Code: CodeInvalidRecord, Message: "invalid order: amount: must not be negative",
		Fields: []FieldProblem{{Field: "amount", Problem: "must not be negative"}}}, 0)
	for name, got := range map[string][]byte{"batch.golden": batch, "accepted.golden": single, "error.golden": rec.Body.Bytes()} {
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if string(got) != string(want) {
			t.Errorf("%s: got\n%s\nwant\n%s", name, got, want)
		}
	}
	if status != 202 || a != 2 || r != 1 || f != 1 {
		t.Errorf("batchStatus: got %d %d %d %d, want 202 2 1 1", status, a, r, f)
	}
	var br BatchResult
	if err := json.Unmarshal(batch, &br); err != nil || len(br.Items) != 4 || !br.Items[1].Replayed || br.Items[1].EventID != `st-"2"` ||
		br.Items[2].Error.Fields[0].Field != "type" || br.Items[3].Status != "failed" {
		t.Errorf("batch answer does not decode into BatchResult: %v %+v", err, br)
	}
	var acc Accepted
	if err := json.Unmarshal(single, &acc); err != nil || acc.Topic != "user-events" || acc.Status != "accepted" {
		t.Errorf("202 answer does not decode into Accepted: %v %+v", err, acc)
	}
}
