package sink_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/schemas"
	"github.com/surgeio/surge/stream"
)

// Records with a duplicate key or a lone surrogate escape, which the
// gateway refuses, are refused by the sink too: each becomes a
// sink_rejects row and a dead letter naming the field, and the valid
// records around them are all written.
func TestSinkRefusesDuplicateKeysAndLoneSurrogates(t *testing.T) {
	brokers := testenv.Kafka(t, topics.All()...)
	ch := testenv.ClickHouseConn(t)
	order, err := schemas.Encode(&schemas.Order{EventID: "e-dup", OrderID: "o-dup", UserID: "u-strict",
		Items: []schemas.Item{{SKU: "tv-55", Qty: 1, UnitPrice: 49900}}, Amount: 49900, Currency: "EUR",
		CreatedAt: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	event, err := schemas.Encode(&schemas.UserEvent{EventID: "e-sur", UserID: "u-strict", SessionID: "s-1",
		Type: schemas.EventPageView, TS: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	dup := bytes.Replace(order, []byte(`"amount":49900`), []byte(`"amount":-5,"amount":49900`), 1)
	sur := bytes.Replace(event, []byte(`"user_id":"u-strict"`), []byte(`"user_id":"u-\ud800"`), 1)
	if bytes.Equal(dup, order) || bytes.Equal(sur, event) {
		t.Fatal("the test records were not altered")
	}
	recs, w := genRecords(rand.New(rand.NewPCG(31, 32)), 1000, time.Now().Add(-time.Minute))
	produce(t, brokers, recs)
	produce(t, brokers, []*kgo.Record{
		{Topic: topics.Orders, Key: []byte("u-strict"), Value: dup},
		{Topic: topics.UserEvents, Key: []byte("u-strict"), Value: sur},
	})
	w.rejects += 2
	w.total += 2

	stop := runSink(t, ch, brokers)
	waitFor(t, ch, w, time.Minute)
	stop()
	checkExact(t, ch, w)

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics.DeadLetters),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	want := map[string]string{"amount: duplicate key": string(dup), "user_id: lone surrogate escape": string(sur)}
	for deadline := time.Now().Add(30 * time.Second); len(want) > 0 && time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			dl, err := stream.ParseDeadLetter(r)
			if err != nil {
				return
			}
			for reason, value := range want {
				if strings.Contains(dl.Reason, reason) && string(dl.Value) == value {
					delete(want, reason)
				}
			}
		})
	}
	for reason := range want {
		t.Errorf("no dead letter with the reason %q", reason)
	}
}
