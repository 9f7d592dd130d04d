package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/env"
)

// TestReadRuntime_pprofOnLoopbackOnly: the profiler is off by default and
// takes a loopback address only; any other address stops the function.
func TestReadRuntime_pprofOnLoopbackOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, addr string
		ok         bool
	}{
		{"unset_off", "", true},
		{"ipv4_loopback", "127.0.0.1:6060", true},
		{"ipv6_loopback", "[::1]:6060", true},
		{"localhost", "localhost:0", true},
		{"all_interfaces_refused", ":6060", false},
		{"any_address_refused", "0.0.0.0:6060", false},
		{"public_address_refused", "10.1.2.3:6060", false},
		{"host_name_refused", "example.com:6060", false},
		{"no_port_refused", "127.0.0.1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := env.NewReader(func(k string) (string, bool) {
				if k == "DEBUG_PPROF_ADDR" && tc.addr != "" {
					return tc.addr, true
				}
				return "", false
			})
			rt := ReadRuntime(r, "fn", MetricsPortServer)
			if err := r.Err(); (err == nil) != tc.ok {
				t.Fatalf("DEBUG_PPROF_ADDR=%q: got error %v, want ok=%v", tc.addr, err, tc.ok)
			}
			if tc.ok && rt.Pprof != tc.addr {
				t.Errorf("Pprof: got %q, want %q", rt.Pprof, tc.addr)
			}
		})
	}
}

// TestRun_pprofOnItsOwnPort: with DEBUG_PPROF_ADDR the profiler answers on
// that address and the function's own port does not serve it.
func TestRun_pprofOnItsOwnPort(t *testing.T) {
	t.Parallel()
	port, pport, mport := freePort(t), freePort(t), freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, io.Discard, Function{Name: "fn", Runtime: Runtime{Port: port, MetricsPort: mport, Drain: time.Second, Pprof: "127.0.0.1:" + pport},
			Config: slog.StringValue("cfg"),
			Start: func(context.Context, *slog.Logger) (Handlers, Stopper, error) {
				return Handlers{API: http.NotFoundHandler(), Ops: http.NotFoundHandler()}, nil, nil
			}})
	}()
	get := func(url string) (int, string) {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			resp, err := http.Get(url)
			if err == nil {
				defer resp.Body.Close()
				var b bytes.Buffer
				_, _ = io.Copy(&b, resp.Body)
				return resp.StatusCode, b.String()
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s: %v", url, err)
			}
		}
	}
	if code, body := get("http://127.0.0.1:" + pport + "/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("profiler index: got %d %.80q, want 200 listing goroutine", code, body)
	}
	for _, p := range []string{port, mport} {
		if code, _ := get("http://127.0.0.1:" + p + "/debug/pprof/"); code != http.StatusNotFound {
			t.Errorf("port %s: got %d for /debug/pprof/, want 404", p, code)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := http.Get("http://127.0.0.1:" + pport + "/debug/pprof/"); err == nil {
		t.Error("the profiler still answers after Run returned")
	}
}
