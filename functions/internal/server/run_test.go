package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRun_listensStartsServesDrainsThenStops follows one function through
// its life: it is served on its port; at shutdown Start's context ends (a
// consumer winds down) while a request under way is still answered; Stop
// runs once, after that request, and its error is returned. The metrics
// port answers during the drain and is closed when Run returns.
func TestRun_listensStartsServesDrainsThenStops(t *testing.T) {
	t.Parallel()
	port, mport := freePort(t), freePort(t)

	var (
		mu     sync.Mutex
		events []string
	)
	note := func(e string) { mu.Lock(); events = append(events, e); mu.Unlock() }
	inHandler, release, startEnded := make(chan struct{}), make(chan struct{}), make(chan struct{})
	stopErr := errors.New("flush failed")
	ctx, cancel := context.WithCancel(context.Background())
	var logs bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, &logs, Function{Name: "fn", Runtime: Runtime{Port: port, MetricsPort: mport, Drain: 5 * time.Second}, Config: slog.StringValue("cfg"),
			Start: func(appCtx context.Context, _ *slog.Logger) (Handlers, Stopper, error) {
				go func() { <-appCtx.Done(); note("start context ended"); close(startEnded) }()
				h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					close(inHandler)
					<-release
					note("request answered")
				})
				return Handlers{API: h}, func() error { note("stopped"); return stopErr }, nil
			}})
	}()
	answered := make(chan error, 1)
	go func() {
		for {
			resp, err := http.Get("http://127.0.0.1:" + port + "/")
			if err == nil {
				resp.Body.Close()
				answered <- nil
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	<-inHandler
	cancel()
	// Shutdown has begun once Start's context ended and the port refuses
	// new connections; the request is still under way until released.
	select {
	case <-startEnded:
	case <-time.After(10 * time.Second):
		t.Fatal("Start's context did not end at shutdown")
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the port still accepts connections 10 s after shutdown began")
		}
	}
	// The metrics port serves through the drain, so what it counts can
	// still be scraped, and closes with the function.
	if resp, err := http.Get("http://127.0.0.1:" + mport + "/metrics"); err != nil {
		t.Errorf("metrics port during the drain: %v, want an answer", err)
	} else {
		resp.Body.Close()
	}
	close(release)
	if err := <-answered; err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, stopErr) {
		t.Errorf("Run: got %v, want Stop's error", err)
	}
	if c, err := net.Dial("tcp", "127.0.0.1:"+mport); err == nil {
		c.Close()
		t.Error("the metrics port still accepts connections after Run returned")
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"start context ended", "request answered", "stopped"}
	if strings.Join(events, ",") != strings.Join(want, ",") {
		t.Errorf("order: got %v, want %v", events, want)
	}
	if !strings.Contains(logs.String(), `"msg":"starting"`) || !strings.Contains(logs.String(), `"config":"cfg"`) ||
		!strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Errorf("logs: got %s, want starting with the config, and stopped", logs.String())
	}
}

func TestRun_startFailureClosesTheListener(t *testing.T) {
	t.Parallel()
	port, mport := freePort(t), freePort(t)
	boom := errors.New("no store")
	err := Run(context.Background(), &bytes.Buffer{}, Function{Name: "fn", Runtime: Runtime{Port: port, MetricsPort: mport},
		Start: func(context.Context, *slog.Logger) (Handlers, Stopper, error) { return Handlers{}, nil, boom }})
	if !errors.Is(err, boom) {
		t.Fatalf("Run: got %v, want Start's error", err)
	}
	for _, p := range []string{port, mport} {
		again, err := net.Listen("tcp", "127.0.0.1:"+p)
		if err != nil {
			t.Fatalf("port %s still held after a failed start: %v", p, err)
		}
		again.Close()
	}
}

// freePort is a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:")
}
