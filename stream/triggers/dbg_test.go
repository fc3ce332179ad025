package triggers_test

import (
	"log/slog"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/surgeio/surge/internal/testenv"
	"github.com/surgeio/surge/stream"
	"github.com/surgeio/surge/stream/triggers"
)

func TestDbg(t *testing.T) {
	brokers := testenv.Kafka(t, topics.All()...)
	_, set := writeRules(t, testRules)
	recs := genInput(rand.New(rand.NewPCG(1, 2)), 600, 30, time.Now().Add(-time.Minute))
	produce(t, brokers, recs)
	l := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r, stop := runRunner(t, brokers, set, triggers.WithLogger(l), triggers.WithClient(stream.ClientConfig{Brokers: brokers, Logger: l}))
	time.Sleep(8 * time.Second)
	stop()
	t.Logf("%+v", r.Stats())
}
