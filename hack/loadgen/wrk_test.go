package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Outputs of wrk 4.1.0 (Debian bookworm): a clean run, and a run whose
// every answer was a 404. The socket-error line is wrk's own format
// (src/wrk.c, main).
const (
	wrkOK = `Running 1s test @ http://127.0.0.1:34015
  2 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   436.55us    0.94ms   9.31ms   89.78%
    Req/Sec    17.20k     5.29k   28.27k    63.64%
  37621 requests in 1.10s, 8.04MB read
Requests/sec:  34209.71
Transfer/sec:      7.31MB
`
	wrkNot2xx = `Running 1s test @ http://127.0.0.1:34015
  2 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   602.66us    1.33ms  12.33ms   89.17%
    Req/Sec    29.70k     6.09k   40.64k    61.90%
  62072 requests in 1.10s, 10.42MB read
  Socket errors: connect 1, read 12, write 0, timeout 3
  Non-2xx or 3xx responses: 62072
Requests/sec:  56501.62
Transfer/sec:      9.48MB
`
)

func TestParseWrk(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		out  string
		want wrkResult
	}{
		{"clean_run", wrkOK, wrkResult{Requests: 37621, Rate: 34209.71}},
		{"failed_answers_and_socket_errors", wrkNot2xx, wrkResult{Requests: 62072, Rate: 56501.62, Non2xx: 62072, Errors: 16}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseWrk(tt.out)
			if err != nil || got != tt.want {
				t.Errorf("parseWrk = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil {
		t.Error("parseWrk of a run that made no request: no error")
	}
}

// TestNewWrkRunner_withoutWrk: without wrk on PATH the makerun scenario
// is told so (and skips issue 16's method) instead of failing.
func TestNewWrkRunner_withoutWrk(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	if _, err := newWrkRunner(t.TempDir(), "p", 32); !errors.Is(err, errWrkMissing) {
		t.Errorf("newWrkRunner without wrk: %v, want errWrkMissing", err)
	}
}

// TestNewWrkRunner_writesTheScript: the script posts to /buy with this
// run's prefix in every user name and nothing left of the placeholder.
func TestNewWrkRunner_writesTheScript(t *testing.T) {
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "wrk"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	w, err := newWrkRunner(t.TempDir(), "bench-1234-wrk", 32)
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(w.script)
	if err != nil {
		t.Fatal(err)
	}
	s := string(script)
	if strings.Contains(s, "PREFIX") || !strings.Contains(s, `"username":"bench-1234-wrk-user-%d"`) || !strings.Contains(s, `"/buy"`) {
		t.Errorf("script:\n%s", s)
	}
}
