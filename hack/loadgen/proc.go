package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a process loadgen started, in its own process group, writing
// its output to a log file in the work directory.
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	started time.Time // just before exec
	done    chan struct{}
	err     error
}

// children are every process loadgen started, so that all are stopped at
// the end whatever happened.
type children struct {
	mu   sync.Mutex
	dir  string
	seq  int
	list []*child
}

// start runs bin with args and env (on top of PATH and HOME only).
func (cs *children) start(name, bin string, args, env []string) (*child, error) {
	return cs.startIn("", name, bin, args, env)
}

// startIn is start in the working directory dir ("" for loadgen's own).
func (cs *children) startIn(dir, name, bin string, args, env []string) (*child, error) {
	cs.mu.Lock()
	cs.seq++
	logPath := filepath.Join(cs.dir, fmt.Sprintf("%02d-%s.log", cs.seq, name))
	cs.mu.Unlock()
	out, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer out.Close() // the child has its own copy
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c := &child{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	c.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	cs.mu.Lock()
	cs.list = append(cs.list, c)
	cs.mu.Unlock()
	return c, nil
}

// stopAll stops every child still running.
func (cs *children) stopAll() {
	cs.mu.Lock()
	list := append([]*child(nil), cs.list...)
	cs.mu.Unlock()
	for _, c := range list {
		c.stop(10 * time.Second)
	}
}

// pid is the child's process id (and process group id).
func (c *child) pid() int { return c.cmd.Process.Pid }

// exited reports whether the child has exited.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the child's process group, and SIGKILL after grace.
func (c *child) stop(grace time.Duration) {
	if c.exited() {
		return
	}
	_ = syscall.Kill(-c.pid(), syscall.SIGTERM)
	select {
	case <-c.done:
		return
	case <-time.After(grace):
	}
	_ = syscall.Kill(-c.pid(), syscall.SIGKILL)
	<-c.done
}

// failure describes a child that misbehaved, with the end of its log.
func (c *child) failure(err error) error {
	b, _ := os.ReadFile(c.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	lines = lines[max(0, len(lines)-15):]
	return fmt.Errorf("%s: %w (log %s, last lines:\n%s)", c.name, err, c.logPath, strings.Join(lines, "\n"))
}

// rssMiB is the resident set size of pid, in MiB.
func rssMiB(pid int) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	kb, err := statusKB(bufio.NewScanner(f), "VmRSS")
	return float64(kb) / 1024, err
}

// statusKB finds a "Key:   1234 kB" line of /proc/<pid>/status.
func statusKB(sc *bufio.Scanner, key string) (int64, error) {
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != key {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("unexpected %s line %q", key, sc.Text())
		}
		return strconv.ParseInt(fields[0], 10, 64)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New(key + " not found")
}

// rssPeak samples a process's RSS every 100 ms until stopped.
type rssPeak struct {
	cancel context.CancelFunc
	done   chan struct{}
	peak   float64
}

func sampleRSS(pid int) *rssPeak {
	ctx, cancel := context.WithCancel(context.Background())
	p := &rssPeak{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if v, err := rssMiB(pid); err == nil {
				p.peak = max(p.peak, v)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

// stop ends the sampling and returns the peak in MiB.
func (p *rssPeak) stop() float64 {
	p.cancel()
	<-p.done
	return p.peak
}
