package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/internal/env"
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

// TestRunSmoke starts cm-api in HTTP mode through run, as main does, waits
// for /readyz, stores an event, reads it back and shuts down cleanly.
func TestRunSmoke(t *testing.T) {
	uri := testMongoURI(t)
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, nil, env.Map(map[string]string{"PORT": port, "MONGODB_URI": uri, "MONGODB_DATABASE": "smoke_" + port}), io.Discard)
	}()
	base := "http://127.0.0.1:" + port
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 within 15s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	req, _ := http.NewRequest("POST", base+"/", strings.NewReader(data))
	for k, v := range binary("smoke-1", "io.scalableshop.purchase.created.v1") {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST event: got %v %v, want 200", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get(base + "/buyList/joe")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"_id":"smoke-1"`) {
		t.Errorf("buyList: got %s, want the stored purchase", body)
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
