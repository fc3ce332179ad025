package triggers

import (
	"context"
	"os"
	"time"

	"github.com/surgeio/surge/stream/triggers/rules"
)

// ReloadFile reads and validates the rules file at path and, if it is
// valid, switches to it. An invalid file is rejected with its problems
// (line and field) and the rules in force keep running.
func (r *Runner) ReloadFile(path string) error {
	set, err := rules.Load(path)
	if err != nil {
		r.metrics.reloads.WithLabelValues("rejected").Inc()
		r.cfg.logger.Error("rules file rejected; the previous rules stay in force", "file", path, "err", err)
		return err
	}
	r.metrics.reloads.WithLabelValues("applied").Inc()
	r.Reload(set)
	r.cfg.logger.Info("rules file loaded", "file", path, "rules", len(set.Enabled()))
	return nil
}

// WatchFile reloads the rules file at path when its modification time or
// size changes (checked every interval) and whenever hup delivers (wire it
// to SIGHUP). It returns when ctx is done.
func (r *Runner) WatchFile(ctx context.Context, path string, interval time.Duration, hup <-chan os.Signal) {
	stamp := func() (time.Time, int64) {
		fi, err := os.Stat(path)
		if err != nil {
			return time.Time{}, -1
		}
		return fi.ModTime(), fi.Size()
	}
	mod, size := stamp()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			mod, size = stamp()
			_ = r.ReloadFile(path)
		case <-t.C:
			m, s := stamp()
			if s < 0 || m.Equal(mod) && s == size {
				continue
			}
			mod, size = m, s
			_ = r.ReloadFile(path)
		}
	}
}
