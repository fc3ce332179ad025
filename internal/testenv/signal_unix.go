//go:build unix

package testenv

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Freeze stops the process with SIGSTOP for d, as a VM or container freeze
// or a long stall does, then lets it go on with SIGCONT. It returns when
// the process was stopped and when it was resumed.
func Freeze(t testing.TB, cmd *exec.Cmd, d time.Duration) (stopped, resumed time.Time) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("stop %s: %v", cmd.Path, err)
	}
	stopped = time.Now()
	time.Sleep(d)
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatalf("resume %s: %v", cmd.Path, err)
	}
	return stopped, time.Now()
}

// Stop ends the processes with SIGTERM, a graceful stop, and waits for
// them.
func Stop(cmds ...*exec.Cmd) {
	for _, c := range cmds {
		_ = c.Process.Signal(syscall.SIGTERM)
	}
	for _, c := range cmds {
		_ = c.Wait()
	}
}

// LogFile creates a file for child processes' output (StartSurge's out),
// whose content the test log shows if the test fails.
func LogFile(t testing.TB, name string) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), name+"-*.log")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(f.Name())
			t.Logf("%s logs:\n%s", name, b)
		}
	})
	return f
}
