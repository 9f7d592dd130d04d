//go:build unix

package main

import (
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// takeTerminal makes devstack the terminal's foreground process group, as a
// shell does for a job, when its standard input is a terminal. Ctrl-C then
// signals devstack alone, not the make that started it: make would otherwise
// die of the SIGINT after devstack stopped cleanly, and the shell would show
// status 130 for a clean stop. The functions run in process groups of their
// own and are stopped by devstack. The returned func gives the terminal back.
func takeTerminal() (restore func()) {
	const tty = 0 // standard input
	previous, err := unix.IoctlGetInt(tty, unix.TIOCGPGRP)
	if err != nil {
		return func() {} // not a terminal: CI, a test, a pipe
	}
	// Changing the foreground group from outside it raises SIGTTOU.
	signal.Ignore(syscall.SIGTTOU)
	if err := syscall.Setpgid(0, 0); err != nil {
		return func() {}
	}
	if err := unix.IoctlSetPointerInt(tty, unix.TIOCSPGRP, syscall.Getpgrp()); err != nil {
		return func() {}
	}
	return func() { _ = unix.IoctlSetPointerInt(tty, unix.TIOCSPGRP, previous) }
}
