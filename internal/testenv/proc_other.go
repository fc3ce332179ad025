//go:build !linux

package testenv

import "syscall"

// childProcAttr: without a parent-death signal, Cleanup stops the child.
func childProcAttr() *syscall.SysProcAttr { return nil }
