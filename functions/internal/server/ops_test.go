package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/env"
)

// TestReadRuntime_metricsPort: METRICS_PORT defaults to the function's own
// port and cannot be switched off, share PORT or take a port of Knative's
// queue-proxy.
func TestReadRuntime_metricsPort(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string // "" = refused
	}{
		{"unset_default", nil, "9465"},
		{"set", map[string]string{"METRICS_PORT": "9999"}, "9999"},
		{"zero_refused", map[string]string{"METRICS_PORT": "0"}, ""},
		{"not_a_number_refused", map[string]string{"METRICS_PORT": "off"}, ""},
		{"out_of_range_refused", map[string]string{"METRICS_PORT": "65536"}, ""},
		{"same_as_PORT_refused", map[string]string{"METRICS_PORT": "8080"}, ""},
		{"same_as_set_PORT_refused", map[string]string{"PORT": "9465"}, ""},
		{"queue_proxy_metrics_refused", map[string]string{"METRICS_PORT": "9091"}, ""},
		{"queue_proxy_http_refused", map[string]string{"METRICS_PORT": "8012"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := env.NewReader(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			rt := ReadRuntime(r, "fn", MetricsPortAPI)
			if err := r.Err(); (err == nil) != (tc.want != "") {
				t.Fatalf("env %v: got error %v, want refused=%v", tc.env, err, tc.want == "")
			}
			if tc.want != "" && rt.MetricsPort != tc.want {
				t.Errorf("MetricsPort: got %q, want %q", rt.MetricsPort, tc.want)
			}
		})
	}
}

// TestRun_opsEndpointsOnTheMetricsPortOnly: the metrics port serves
// /metrics and the detailed /readyz and nothing else; the API port is
// served the API handler only.
func TestRun_opsEndpointsOnTheMetricsPortOnly(t *testing.T) {
	t.Parallel()
	port, mport := freePort(t), freePort(t)
	rd := NewReadiness(slog.New(slog.DiscardHandler),
		Check{Name: "mongodb", Ping: func(context.Context) error { return errors.New("dial tcp 10.0.0.7:27017: refused") }})
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "shop_up 1\n") })
	api := http.NewServeMux()
	api.Handle("GET /readyz", HandleReadyz(rd))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, io.Discard, Function{Name: "fn", Runtime: Runtime{Port: port, MetricsPort: mport, Drain: time.Second},
			Start: func(context.Context, *slog.Logger) (Handlers, Stopper, error) {
				return Handlers{API: api, Ops: OpsHandler(metrics, rd)}, nil, nil
			}})
	}()
	for _, c := range []struct {
		port, path string
		code       int
		has, hasNo string
	}{
		{mport, "/metrics", http.StatusOK, "shop_up 1", ""},
		{mport, "/readyz", http.StatusServiceUnavailable, "10.0.0.7:27017", ""},
		{mport, "/debug/pprof/", http.StatusNotFound, "", ""},
		{mport, "/", http.StatusNotFound, "", ""},
		{port, "/metrics", http.StatusNotFound, "", "shop_up"},
		{port, "/readyz", http.StatusServiceUnavailable, `{"status":"not ready"}`, "10.0.0"},
	} {
		code, body := getEventually(t, "http://127.0.0.1:"+c.port+c.path)
		if code != c.code || !strings.Contains(body, c.has) || (c.hasNo != "" && strings.Contains(body, c.hasNo)) {
			t.Errorf("GET :%s%s: got %d %q, want %d with %q and without %q", c.port, c.path, code, body, c.code, c.has, c.hasNo)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestRun_metricsPortTakenFailsAndFreesPORT: a METRICS_PORT in use stops
// the start with an error naming it, and PORT is let go.
func TestRun_metricsPortTakenFailsAndFreesPORT(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	mport := strings.TrimPrefix(taken.Addr().String(), "127.0.0.1:")
	err = Run(context.Background(), &bytes.Buffer{}, Function{Name: "fn", Runtime: Runtime{Port: port, MetricsPort: mport},
		Start: func(context.Context, *slog.Logger) (Handlers, Stopper, error) {
			t.Error("Start ran although the metrics port could not be opened")
			return Handlers{}, nil, nil
		}})
	if err == nil || !strings.Contains(err.Error(), "METRICS_PORT") {
		t.Fatalf("Run: got %v, want an error naming METRICS_PORT", err)
	}
	again, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatalf("PORT %s still held after the failed start: %v", port, err)
	}
	again.Close()
}

// getEventually GETs url, retrying while nothing listens yet.
func getEventually(t *testing.T, url string) (int, string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		resp, err := http.Get(url)
		if err == nil {
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
}
