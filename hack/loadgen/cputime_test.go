package main

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	t.Parallel()
	// A command name with spaces and parentheses, utime 250 and stime 50.
	line := "1234 (cm server) (x) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 8 0 100 1000000 500 18446744073709551615"
	got, err := parseStatCPU(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := 300 * clockTick; got != want {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, err := parseStatCPU("1234 (short) S 1 2"); err == nil {
		t.Error("a short line: got no error, want one")
	}
}

// TestCPUTimeOfThisProcess: the process's own CPU time grows while it
// spins (however busy the machine, within 10 s).
func TestCPUTimeOfThisProcess(t *testing.T) {
	before, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		now, err := cpuTime(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if now-before >= 3*clockTick {
			return
		}
	}
	t.Errorf("CPU time did not grow by %v in 10 s of spinning", 3*clockTick)
}

// TestTreeCPU_countsDescendants: a child's CPU time counts in its parent's
// tree, while it runs and after it was reaped; a skipped subtree does not.
func TestTreeCPU_countsDescendants(t *testing.T) {
	spin := func() *exec.Cmd {
		// A shell loop spins a core until killed.
		cmd := exec.Command("sh", "-c", "while :; do :; done")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	counted, skipped := spin(), spin()
	defer func() { _ = skipped.Process.Kill(); _ = skipped.Wait() }()
	tree := treeCPU(os.Getpid(), skipped.Process.Pid)
	start, err := tree()
	if err != nil {
		t.Fatal(err)
	}
	skippedStart, err := cpuTime(skipped.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	// The child already spun before start was read; read after it, its
	// time is at least what start counted of it.
	childStart, err := cpuTime(counted.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, _ := cpuTime(counted.Process.Pid); c >= 10*clockTick || time.Now().After(deadline) {
			break
		}
	}
	childCPU, _ := cpuTime(counted.Process.Pid)
	_ = counted.Process.Kill()
	_ = counted.Wait() // reaped: its time moves to this process's cutime
	end, err := tree()
	if err != nil {
		t.Fatal(err)
	}
	skippedCPU, _ := cpuTime(skipped.Process.Pid)
	if end-start < childCPU-childStart {
		t.Errorf("tree grew by %v, want at least the reaped child's %v", end-start, childCPU-childStart)
	}
	// Counted, the skipped spinner would add about as much as the child.
	if skip := skippedCPU - skippedStart; skip >= 10*clockTick && end-start >= childCPU+skip {
		t.Errorf("tree grew by %v: the child's %v and the skipped one's %v", end-start, childCPU, skip)
	}
}
