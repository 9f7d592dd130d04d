package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// wrkScript posts a purchase for one of 100 rotating users per request, as
// issue 16 measured (`wrk -t2 -c32`, 100 users). PREFIX keeps each run's
// users apart.
const wrkScript = `local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  local u = n % 100
  local body = string.format('{"username":"PREFIX-user-%d","userid":"PREFIX-%d","price":"%d.%02d","timestamp":"2024-05-31T15:54:32.204Z"}',
    u, u, 1 + n % 1000, n % 100)
  return wrk.format(nil, "/buy", nil, body)
end
`

// wrkResult is what one wrk run reports.
type wrkResult struct {
	Requests int64   // completed requests
	Rate     float64 // requests/s
	Non2xx   int64   // answers other than 2xx and 3xx
	Errors   int64   // socket errors: connect, read, write, timeout
}

var (
	wrkRequests = regexp.MustCompile(`(?m)^\s*(\d+) requests in `)
	wrkRate     = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	wrkNon2xx   = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses: (\d+)`)
	wrkErrors   = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// parseWrk reads wrk's summary.
func parseWrk(out string) (wrkResult, error) {
	m, r := wrkRequests.FindStringSubmatch(out), wrkRate.FindStringSubmatch(out)
	if m == nil || r == nil {
		return wrkResult{}, fmt.Errorf("no request count in wrk's output: %.500s", out)
	}
	var res wrkResult
	res.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	res.Rate, _ = strconv.ParseFloat(r[1], 64)
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		res.Non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := wrkErrors.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			res.Errors += n
		}
	}
	return res, nil
}

// wrkRunner runs wrk against base URLs with the purchase script.
type wrkRunner struct {
	bin, script string
	conns       int
}

// newWrkRunner finds wrk on PATH and writes the script under dir, with
// prefix in the user names; errWrkMissing when wrk is not installed.
func newWrkRunner(dir, prefix string, conns int) (*wrkRunner, error) {
	bin, err := exec.LookPath("wrk")
	if err != nil {
		return nil, errWrkMissing
	}
	script := filepath.Join(dir, "buy.lua")
	body := regexp.MustCompile(`PREFIX`).ReplaceAllLiteralString(wrkScript, prefix)
	if err := os.WriteFile(script, []byte(body), 0o644); err != nil {
		return nil, err
	}
	return &wrkRunner{bin: bin, script: script, conns: conns}, nil
}

var errWrkMissing = errors.New("wrk is not installed (Debian: apt-get install wrk)")

// run posts purchases to base for d and returns wrk's summary; every answer
// must have been a 2xx and no connection may have failed.
func (w *wrkRunner) run(ctx context.Context, base string, d time.Duration) (wrkResult, error) {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	cmd := exec.CommandContext(ctx, w.bin, "-t2", fmt.Sprintf("-c%d", w.conns), fmt.Sprintf("-d%ds", secs), "-s", w.script, base)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w\n%s", base, err, out)
	}
	res, err := parseWrk(string(out))
	if err != nil {
		return res, err
	}
	if res.Non2xx != 0 || res.Errors != 0 {
		return res, fmt.Errorf("wrk %s: %d answers not 2xx and %d socket errors in %d requests", base, res.Non2xx, res.Errors, res.Requests)
	}
	return res, nil
}
