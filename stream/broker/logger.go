package broker

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kfake"
)

// slogLogger bridges the broker's logger to slog. Only warnings and errors
// are forwarded: the broker's info level logs every request.
type slogLogger struct {
	l *slog.Logger
}

func newLogger(l *slog.Logger) kfake.Logger {
	return slogLogger{l.With(slog.String("component", "broker"))}
}

func (s slogLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	var lvl slog.Level
	switch level {
	case kfake.LogLevelError:
		lvl = slog.LevelError
	case kfake.LogLevelWarn:
		lvl = slog.LevelWarn
	default:
		return
	}
	ctx := context.Background()
	if !s.l.Enabled(ctx, lvl) {
		return
	}
	s.l.Log(ctx, lvl, fmt.Sprintf(format, args...))
}
