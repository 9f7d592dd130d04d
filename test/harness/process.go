package harness

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
)

// Process is a function binary started by a test, in its own process group.
type Process struct {
	Name string
	cmd  *exec.Cmd
	out  *SyncBuffer
	done chan struct{}
	err  error

	// MetricsURL is http://127.0.0.1:<METRICS_PORT>, where the function
	// serves /metrics and the detailed /readyz.
	MetricsURL string
}

// Start runs bin with env (on top of PATH and HOME only, and METRICS_PORT
// on a free port unless env has one, so that functions started side by side
// do not share their defaults) and stops it with SIGTERM when the test ends.
// Its output is shown if the test fails.
func Start(t testing.TB, name, bin string, env map[string]string) *Process {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	metricsPort, ok := env["METRICS_PORT"]
	if !ok {
		metricsPort = FreePort(t)
		cmd.Env = append(cmd.Env, "METRICS_PORT="+metricsPort)
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out := &SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &Process{Name: name, MetricsURL: "http://127.0.0.1:" + metricsPort, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop(10 * time.Second)
		if t.Failed() {
			t.Logf("%s output (last 60 lines):\n%s", name, tail(out.String(), 60))
		}
	})
	return p
}

// Signal sends sig to the process group.
func (p *Process) Signal(sig syscall.Signal) {
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
}

// Pause stops the process group with SIGSTOP and returns once every thread
// of the process is stopped: kill returns before a thread running on
// another CPU has taken the signal, so a request sent at once could still
// be answered.
func (p *Process) Pause(t testing.TB) {
	t.Helper()
	p.Signal(syscall.SIGSTOP)
	Eventually(t, 10*time.Second, func() string {
		tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", p.cmd.Process.Pid))
		if err != nil || len(tasks) == 0 {
			return fmt.Sprintf("%s: no threads to look at (%v)", p.Name, err)
		}
		for _, task := range tasks {
			stat, err := os.ReadFile(task)
			if err != nil {
				return err.Error()
			}
			// The state follows the ")" that closes the command name.
			if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || (stat[i+2] != 'T' && stat[i+2] != 't') {
				return fmt.Sprintf("%s: a thread is not stopped yet: %s", p.Name, stat)
			}
		}
		return ""
	})
}

// Stop sends SIGTERM and waits up to grace, then SIGKILLs. It returns the
// exit error, nil for a clean exit.
func (p *Process) Stop(grace time.Duration) error {
	p.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Signal(syscall.SIGKILL)
		<-p.done
	}
	return p.err
}

// Kill sends SIGKILL and waits for the process to exit.
func (p *Process) Kill() {
	p.Signal(syscall.SIGKILL)
	<-p.done
}

// Output is everything the process wrote so far.
func (p *Process) Output() string { return p.out.String() }

// SyncBuffer is a bytes.Buffer that a running process (or function) and
// its test can write and read at once.
type SyncBuffer = apitest.SyncBuffer

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... %d lines before", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
