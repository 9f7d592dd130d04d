package main

import "syscall"

// sysProcAttr puts a child in its own process group and has the kernel
// send it SIGTERM should devstack die without stopping it (kill -9), so no
// function is left holding its port.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
