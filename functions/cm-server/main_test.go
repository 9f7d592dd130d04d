package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/scalable-shop/scalable-shop/functions/internal/env"
	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
)

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// TestRunSmoke starts cm-server through run, as main does, with K_SINK
// pointing at a sink that answers like a KafkaSink, waits for /readyz, buys
// once and shuts down cleanly.
func TestRunSmoke(t *testing.T) {
	var received atomic.Int32
	var answer atomic.Int32
	answer.Store(http.StatusAccepted)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := cehttp.NewEventFromHTTPRequest(r)
		if err != nil || e.Type() != purchase.EventType {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		received.Add(1)
		w.WriteHeader(int(answer.Load()))
	}))
	defer sink.Close()

	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, nil, env.Map(map[string]string{"PORT": port, "K_SINK": sink.URL}), io.Discard)
	}()
	base := "http://127.0.0.1:" + port
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 within 10s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	buy := func() int {
		resp, err := http.Post(base+"/buy", "application/json", strings.NewReader(`{"username":"joe","userid":"005","price":"1"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := buy(); got != http.StatusAccepted || received.Load() != 1 {
		t.Errorf("buy with a healthy sink: got %d and %d events at the sink, want 202 and 1", got, received.Load())
	}
	answer.Store(http.StatusServiceUnavailable) // what a KafkaSink says when Kafka did not ack
	if got := buy(); got != http.StatusServiceUnavailable {
		t.Errorf("buy with a failing sink: got %d, want 503", got)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("run: got %v, want a clean stop", err)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

// syncBuffer is a log sink that run and the test can share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
