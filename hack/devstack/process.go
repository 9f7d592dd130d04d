package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// process is a running function.
type process struct {
	fn   function
	cmd  *exec.Cmd
	out  *prefixWriter
	done chan struct{} // closed once the process has exited and err is set
	err  error         // from Wait
}

// start runs bin in its own process group, so that signals from the terminal
// reach devstack only and devstack decides how its children stop.
func start(fn function, bin string, env []string, out *prefixWriter) (*process, error) {
	cmd := exec.Command(bin)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	// Grandchildren holding the output pipes must not block Wait forever.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", fn.name, err)
	}
	p := &process{fn: fn, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = out.Flush() // the mux has nowhere better to report this
		close(p.done)
	}()
	return p, nil
}

// stop sends SIGTERM to the process group and waits for the process to exit,
// sending SIGKILL once timeout has passed or force is closed.
func (p *process) stop(log *slog.Logger, timeout time.Duration, force <-chan struct{}) {
	select {
	case <-p.done:
		return
	default:
	}
	pgid := p.cmd.Process.Pid
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		log.Warn("send SIGTERM", "process", p.fn.name, "err", err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		log.Info("stopped", "process", p.fn.name, "exit", exitText(p.err))
		return
	case <-timer.C:
		log.Warn("did not stop in time, killing", "process", p.fn.name, "timeout", timeout)
	case <-force:
		log.Warn("killing on second signal", "process", p.fn.name)
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		log.Warn("send SIGKILL", "process", p.fn.name, "err", err)
	}
	<-p.done
}

// exitText describes how a process ended.
func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// childEnv returns the environment of fn's process.
func childEnv(cfg config, fn function, d *deps) []string {
	env := append([]string{}, cfg.env...)
	env = append(env, fmt.Sprintf("PORT=%d", fn.port))
	if fn.metricsPort != 0 {
		env = append(env, fmt.Sprintf("METRICS_PORT=%d", fn.metricsPort))
	}
	if fn.env != nil {
		env = append(env, fn.env(d)...)
	}
	return env
}

// ensureDir creates dir if needed.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return nil
}
