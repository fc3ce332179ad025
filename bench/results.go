package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"time"
)

// section is one scenario's results.
type section struct {
	Name    string
	Summary string        // the one line printed, e.g. "sink: surge 412k rows/s, ..."
	Targets []target      // what the scenario is held to
	Body    string        // Markdown: figures, settings, method, notes
	Took    time.Duration // wall time of the whole scenario, set-up included
}

// target is one goal and whether the run met it.
type target struct {
	Goal   string // "surge >= 2x the Kafka engine"
	Result string // "3.1x"
	Met    bool
}

// results is everything RESULTS.md says.
type results struct {
	Command  string
	Date     time.Time
	Took     time.Duration
	Quick    bool
	Machine  machine
	Sections []*section
}

func writeResults(path string, r results) error {
	if err := os.WriteFile(path, []byte(renderResults(r)), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// renderResults renders RESULTS.md.
func renderResults(r results) string {
	var b bytes.Buffer
	b.WriteString("# surge benchmark results\n\n")
	b.WriteString("Written by the bench program (`bench/`); do not edit by hand. Every figure\n")
	b.WriteString("below comes from one run of the command shown, with surge and its baseline\n")
	b.WriteString("measured side by side in that run, on the same machine, against the same\n")
	b.WriteString("embedded broker and local ClickHouse. Run it again with `make bench` or the\n")
	b.WriteString("command below; `-quick` gives a scaled-down check.\n\n")
	mode := "full"
	if r.Quick {
		mode = "**quick** (scaled down; not the reference figures)"
	}
	m := r.Machine
	ch := m.ClickHouse
	if ch == "" {
		ch = "not started in this run"
	}
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| command | `%s` |\n", r.Command)
	fmt.Fprintf(&b, "| mode | %s |\n", mode)
	fmt.Fprintf(&b, "| date | %s (took %s) |\n", r.Date.Format("2006-01-02 15:04 MST"), r.Took.Round(time.Second))
	fmt.Fprintf(&b, "| CPU | %d × %s (nproc %d) |\n", m.NProc, m.CPU, m.NProc)
	fmt.Fprintf(&b, "| memory | %.0f GiB |\n", m.MemGiB)
	fmt.Fprintf(&b, "| OS | %s |\n", m.Kernel)
	fmt.Fprintf(&b, "| Go | %s |\n", m.Go)
	fmt.Fprintf(&b, "| ClickHouse | %s |\n", ch)
	fmt.Fprintf(&b, "| load average at start | %s (1, 5, 15 min) |\n", m.LoadAvg)
	if m.RunCPU > 0 {
		fmt.Fprintf(&b, "| other processes during the run | %.0f CPU-s of the %.0f the machine had (%.0f%%) |\n",
			m.OtherCPU.Seconds(), m.RunCPU.Seconds(), 100*m.OtherCPU.Seconds()/m.RunCPU.Seconds())
	}
	b.WriteString("\nFigures are from a single run. The machine may be shared: the last row\n")
	b.WriteString("says how much CPU other work took meanwhile; CPU time per record or row,\n")
	b.WriteString("shown where it matters, depends less on that than rates do.\n\n")

	b.WriteString("## Summary\n\n")
	b.WriteString("| scenario | result | target | met |\n|---|---|---|---|\n")
	for _, s := range r.Sections {
		for i, t := range s.Targets {
			name := ""
			if i == 0 {
				name = s.Name
			}
			met := "yes"
			if !t.Met {
				met = "**no**"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", name, t.Result, t.Goal, met)
		}
	}
	b.WriteString("\n")
	for _, s := range r.Sections {
		fmt.Fprintf(&b, "## %s\n\n", s.Name)
		fmt.Fprintf(&b, "```\n%s\n```\n\n", s.Summary)
		b.WriteString(strings.TrimSpace(s.Body))
		fmt.Fprintf(&b, "\n\nScenario wall time, set-up included: %s.\n\n", s.Took.Round(time.Second))
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

// mdTable renders a Markdown table.
func mdTable(header []string, rows [][]string) string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(header, " | ") + " |\n|")
	for range header {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	return b.String()
}
