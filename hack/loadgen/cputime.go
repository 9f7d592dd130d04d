package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat: USER_HZ,
// 100 on every Linux architecture Go supports (sysconf(_SC_CLK_TCK)).
const clockTick = 10 * time.Millisecond

// cpuTime is the CPU time pid has used so far, user and system, from
// /proc/<pid>/stat (threads included, children not).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime and stime, fields 14 and 15 of a stat line.
func parseStatCPU(stat string) (time.Duration, error) {
	_, cpu, err := parseStat(stat, false)
	return cpu, err
}

// parseStat reads the parent (field 4) and the CPU time, utime and stime
// (fields 14 and 15), with reaped the children's too (cutime and cstime,
// 16 and 17), of a stat line. The command name (field 2) is in parentheses
// and may hold spaces, so the fields are counted after its closing
// parenthesis.
func parseStat(stat string, reaped bool) (ppid int, cpu time.Duration, err error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("stat line %.60q: no command name", stat)
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 15 {
		return 0, 0, fmt.Errorf("stat line %.60q: %d fields after the name", stat, len(f))
	}
	if ppid, err = strconv.Atoi(f[1]); err != nil {
		return 0, 0, fmt.Errorf("stat line: parent %q: %w", f[1], err)
	}
	last := 13
	if reaped {
		last = 15
	}
	var ticks int64
	for _, s := range f[11:last] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("stat line: CPU time %q: %w", s, err)
		}
		ticks += n
	}
	return ppid, time.Duration(ticks) * clockTick, nil
}

// cpuReader reads a CPU time that grows: a process's, or a process tree's.
type cpuReader func() (time.Duration, error)

// pidCPU reads the CPU time of pid.
func pidCPU(pid int) cpuReader { return func() (time.Duration, error) { return cpuTime(pid) } }

// treeCPU reads the CPU time of root and all its descendants but the
// subtrees of skip, each with what it reaped of its children (cutime and
// cstime), so a child that ends during a phase still counts: it is either
// alive, counted itself, or reaped, counted in its parent.
func treeCPU(root int, skip ...int) cpuReader {
	return func() (time.Duration, error) {
		procs, err := processTable()
		if err != nil {
			return 0, err
		}
		skipped := map[int]bool{}
		for _, p := range skip {
			skipped[p] = true
		}
		var total time.Duration
		var walk func(pid int)
		walk = func(pid int) {
			if skipped[pid] {
				return
			}
			total += procs[pid].cpu
			for _, c := range procs[pid].children {
				walk(c)
			}
		}
		if _, ok := procs[root]; !ok {
			return 0, fmt.Errorf("process %d is gone", root)
		}
		walk(root)
		return total, nil
	}
}

// procEntry is one process of processTable.
type procEntry struct {
	name     string        // the command name
	cpu      time.Duration // its own and its reaped children's
	children []int
}

// processTable reads every process's parent and CPU time from /proc.
func processTable() (map[int]procEntry, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	procs := map[int]procEntry{}
	parents := map[int]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // ended meanwhile
		}
		stat := string(b)
		ppid, cpu, err := parseStat(stat, true)
		if err != nil {
			continue
		}
		procs[pid] = procEntry{name: stat[strings.IndexByte(stat, '(')+1 : strings.LastIndexByte(stat, ')')], cpu: cpu}
		parents[pid] = ppid
	}
	for pid, ppid := range parents {
		if p, ok := procs[ppid]; ok {
			p.children = append(p.children, pid)
			procs[ppid] = p
		}
	}
	return procs, nil
}

// cpuMeter measures the CPU time that readers report between meterCPU and
// used.
type cpuMeter struct {
	readers map[string]cpuReader
	start   map[string]time.Duration
}

func meterCPU(readers map[string]cpuReader) (*cpuMeter, error) {
	m := &cpuMeter{readers: readers, start: map[string]time.Duration{}}
	for name, read := range readers {
		t, err := read()
		if err != nil {
			return nil, fmt.Errorf("CPU time of %s: %w", name, err)
		}
		m.start[name] = t
	}
	return m, nil
}

// used is the CPU time each reader's processes used since meterCPU.
func (m *cpuMeter) used() (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	for name, read := range m.readers {
		t, err := read()
		if err != nil {
			return nil, fmt.Errorf("CPU time of %s: %w", name, err)
		}
		out[name] = t - m.start[name]
	}
	return out, nil
}

// perOp is CPU time per operation in microseconds.
func perOp(used time.Duration, ops int64) float64 {
	if ops <= 0 {
		return 0
	}
	return float64(used.Microseconds()) / float64(ops)
}

// profiles fetches CPU profiles from functions' profilers
// (DEBUG_PPROF_ADDR) into a folder, one file per function and phase.
type profiles struct {
	dir string
	wg  sync.WaitGroup
	mu  sync.Mutex
	err error
}

// capture profiles the process whose profiler listens on addr for d, in the
// background, into <dir>/<phase>-<name>.pprof; wait waits for all.
func (p *profiles) capture(ctx context.Context, addr, phase, name string, d time.Duration) {
	if p == nil || p.dir == "" {
		return
	}
	p.wg.Go(func() {
		path := filepath.Join(p.dir, phase+"-"+name+".pprof")
		if err := fetchProfile(ctx, addr, d, path); err != nil {
			p.mu.Lock()
			p.err = fmt.Errorf("profile %s in %s: %w", name, phase, err)
			p.mu.Unlock()
		}
	})
}

// wait waits for the profiles under way and returns the first error.
func (p *profiles) wait() error {
	if p == nil {
		return nil
	}
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// fetchProfile asks the profiler at addr for a CPU profile of d (whole
// seconds, at least one) and writes it to path.
func fetchProfile(ctx context.Context, addr string, d time.Duration, path string) error {
	secs := max(1, int((d+time.Second-1)/time.Second))
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: time.Duration(secs)*time.Second + 30*time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: status %d: %s", url, resp.StatusCode, body)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
