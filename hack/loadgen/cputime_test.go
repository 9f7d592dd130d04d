package main

import (
	"os"
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
