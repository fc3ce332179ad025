//go:build !unix

package analytics

import (
	"errors"
	"os"
	"syscall"
)

// The local server is supported on unix systems only; elsewhere StartLocal
// fails at the directory lock with errUnsupported.

const (
	sigTerm = syscall.Signal(0xf)
	sigKill = syscall.Signal(0x9)
)

var (
	errLocked      = errors.New("locked")
	errUnsupported = errors.New("the local clickhouse server is not supported on this platform; pass --clickhouse host:port")
)

func signalGroup(p *os.Process, _ syscall.Signal) error { return p.Kill() }
func lockFile(*os.File) error                           { return errUnsupported }
func processAlive(int) bool                             { return false }
func procAttr() *syscall.SysProcAttr                    { return nil }
