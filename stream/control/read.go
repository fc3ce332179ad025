package control

import (
	"context"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ReadState reads the control topic to its end and returns its state,
// without creating the topic: a missing one reads as an empty state. It is
// for read-only tools (surge doctor).
func ReadState(ctx context.Context, topic string, clientOpts []kgo.Opt) (*State, error) {
	c, err := open(ctx, topic, clientOpts, slog.New(slog.DiscardHandler), false)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.CatchUp(ctx); err != nil {
		return nil, err
	}
	return c.State(), nil
}
