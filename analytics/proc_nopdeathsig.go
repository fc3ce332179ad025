//go:build unix && !linux

package analytics

import "syscall"

// procAttr puts the server in its own process group. Without Linux's
// parent-death signal, Stop (or the lock and pid files on the next start)
// must clean up after a crashed surge.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
