package analytics

import "syscall"

// procAttr puts the server in its own process group and has the kernel
// kill it if surge dies, so it never outlives the process that started it.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
