package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/surgeio/surge/stream/loadgen"
)

// progressBar draws the generator's progress: a bar over the run's duration
// with the live rate and ack latency. Off a terminal it prints a line every
// few seconds instead.
type progressBar struct {
	bar      *progressbar.ProgressBar
	w        io.Writer
	tty      bool
	lastLine time.Time
}

func newProgressBar(w io.Writer, d time.Duration, what string) *progressBar {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	p := &progressBar{w: w, tty: tty}
	if tty {
		p.bar = progressbar.NewOptions64(int64(d/time.Second),
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(what),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionSetElapsedTime(true),
		)
	}
	return p
}

func (p *progressBar) update(pr loadgen.Progress) {
	desc := fmt.Sprintf("%d acked · %.0f/s (target %.0f/s) · ack p50 %s p99 %s · %d failed",
		pr.Acked, pr.Rate, pr.TargetRate, pr.P50.Round(time.Microsecond*100), pr.P99.Round(time.Microsecond*100), pr.Failed)
	if p.bar != nil {
		p.bar.Describe(desc)
		_ = p.bar.Set64(int64(pr.Elapsed / time.Second))
		return
	}
	if time.Since(p.lastLine) >= 5*time.Second {
		p.lastLine = time.Now()
		fmt.Fprintf(p.w, "[%s] %s\n", pr.Elapsed.Round(time.Second), desc)
	}
}

func (p *progressBar) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		fmt.Fprintln(p.w)
	}
}
