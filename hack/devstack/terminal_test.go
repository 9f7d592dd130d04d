//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestTakeTerminal_ctrlCStopsDevstackNotMake runs a stand-in for devstack
// under a real make, on a pseudo-terminal, and types Ctrl-C: with
// takeTerminal the SIGINT reaches devstack alone, which stops cleanly, and
// make ends with status 0. Without it (the control case) make itself dies of
// the SIGINT, which a shell shows as status 130 after a clean stop.
func TestTakeTerminal_ctrlCStopsDevstackNotMake(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	for _, tt := range []struct {
		name, take, want string
	}{
		{"with_takeTerminal", "1", "make exited: exit status 0"},
		{"without_takeTerminal", "0", "make exited: signal: interrupt"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := ctrlCUnderMake(t, tt.take); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestTerminalChild is the stand-in for devstack that the test above runs;
// it does nothing unless TERMINAL_CHILD is set.
func TestTerminalChild(t *testing.T) {
	if os.Getenv("TERMINAL_CHILD") == "" {
		return
	}
	restore := func() {}
	if os.Getenv("TERMINAL_CHILD") == "1" {
		restore = takeTerminal()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	fmt.Println("child ready")
	<-ctx.Done()
	stop()
	restore()
	fmt.Println("child stopped cleanly")
}

// ctrlCUnderMake runs `make` on a new pseudo-terminal with a recipe that
// starts TestTerminalChild, types Ctrl-C once the child is ready, and
// returns how make ended.
func ctrlCUnderMake(t *testing.T, take string) string {
	t.Helper()
	master, slave := openPTY(t)
	dir := t.TempDir()
	recipe := fmt.Sprintf("all:\n\tTERMINAL_CHILD=%s %s -test.run=^TestTerminalChild$\n", take, os.Args[0])
	if err := os.WriteFile(filepath.Join(dir, "Makefile"), []byte(recipe), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("make", "-s", "-C", dir)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(master)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitLine(t, lines, "child ready")
	if _, err := master.Write([]byte{0x03}); err != nil { // Ctrl-C
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			return "make exited: exit status 0"
		}
		return "make exited: " + err.Error()
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("make did not end within 30 s of Ctrl-C")
		return ""
	}
}

func waitLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("terminal closed before %q", want)
			}
			if strings.Contains(line, want) {
				return
			}
		case <-timeout:
			t.Fatalf("no %q on the terminal within 60 s", want)
		}
	}
}

// openPTY opens a new pseudo-terminal pair.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	return master, slave
}
