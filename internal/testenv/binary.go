package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var surgeBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// SurgeBinary builds the surge command once per test binary and returns its
// path, for tests that run surge as a separate process (to kill -9 it). Main
// removes it when the tests end.
func SurgeBinary(t testing.TB) string {
	t.Helper()
	surgeBin.once.Do(func() {
		surgeBin.dir, surgeBin.err = os.MkdirTemp("", "surge-bin-")
		if surgeBin.err != nil {
			return
		}
		surgeBin.path = filepath.Join(surgeBin.dir, "surge")
		out, err := exec.Command("go", "build", "-o", surgeBin.path, "github.com/surgeio/surge/cmd/surge").CombinedOutput()
		if err != nil {
			surgeBin.err = fmt.Errorf("build surge: %v\n%s", err, out)
		}
	})
	if surgeBin.err != nil {
		t.Fatal(surgeBin.err)
	}
	return surgeBin.path
}

// StartSurge runs the surge binary with args as a child process, its output
// going to out. It ignores any surge.yaml or SURGE_CONFIG around the test.
// The caller stops it (Kill for a kill -9, or a signal) and Waits.
func StartSurge(t testing.TB, out *os.File, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(SurgeBinary(t), args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "SURGE_CONFIG=")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start surge %v: %v", args, err)
	}
	return cmd
}
