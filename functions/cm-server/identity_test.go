package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

// recordingAPI is a cm-api stand-in that answers status (an empty list or
// a new claim for 200/201) and records each call's Authorization.
type recordingAPI struct {
	mu     sync.Mutex
	auth   []string
	status int
}

func (a *recordingAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.auth = append(a.auth, r.URL.Path+" "+r.Header.Get("Authorization"))
	status := a.status
	a.mu.Unlock()
	switch {
	case status == http.StatusOK && strings.HasPrefix(r.URL.Path, "/buyList/"):
		server.Encode(w, http.StatusOK, buyList{Status: server.StatusOK})
	case status == http.StatusOK:
		server.Encode(w, http.StatusCreated, map[string]any{"status": "Ok!", "stored": false}) // a new claim
	default:
		server.Encode(w, status, server.ErrorBody{Status: "Error", Message: "cm-api's own refusal text"})
	}
}

func (a *recordingAPI) calls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.auth...)
}

// TestAPIClient_sendsItsTokenFromTheFile: with CM_API_TOKEN_FILE, every call
// to cm-api (lists and key look-ups) carries the file's token, and a token
// the kubelet rotates is sent from the first call a second after the last
// read; without it, no Authorization is sent.
func TestAPIClient_sendsItsTokenFromTheFile(t *testing.T) {
	t.Parallel()
	api := &recordingAPI{status: http.StatusOK}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	file := filepath.Join(t.TempDir(), "token")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("first\n")
	now := time.Unix(1000, 0)
	var clock sync.Mutex
	tick := func() time.Time { clock.Lock(); defer clock.Unlock(); return now }
	cfg, err := loadConfig(apitest.Lookup(map[string]string{"CM_API_URL": srv.URL, "CM_API_TOKEN_FILE": file}))
	if err != nil || cfg.CMAPITokenFile != file {
		t.Fatalf("CM_API_TOKEN_FILE: got %q, %v, want %q", cfg.CMAPITokenFile, err, file)
	}
	log := slog.New(slog.DiscardHandler)
	h := newServer(log, cfg, &fakeSender{}, newAPIClient(srv.URL, time.Second).withToken(cfg.CMAPITokenFile, tick),
		server.NewReadiness(log), telemetry.NewMetrics("cm-server"))
	shop := func() {
		t.Helper()
		if rec := apitest.Do(h, "GET", "/getAllUserBuys/joe", "", nil); rec.Code != http.StatusOK {
			t.Fatalf("GET /getAllUserBuys: got %d, want 200 (%s)", rec.Code, rec.Body)
		}
		header := map[string]string{"Content-Type": "application/json", "Idempotency-Key": fmt.Sprintf("k-%d", tick().UnixMilli())}
		if rec := apitest.Do(h, "POST", "/buy", joe, header); rec.Code != http.StatusAccepted {
			t.Fatalf("POST /buy: got %d, want 202 (%s)", rec.Code, rec.Body)
		}
	}
	shop()
	write("rotated\n")
	clock.Lock()
	now = now.Add(999 * time.Millisecond)
	clock.Unlock()
	shop()
	clock.Lock()
	now = now.Add(time.Millisecond)
	clock.Unlock()
	shop()
	calls := api.calls()
	want := []string{"first", "first", "first", "first", "rotated", "rotated"}
	if len(calls) != len(want) {
		t.Fatalf("calls to cm-api: got %q, want %d", calls, len(want))
	}
	for i, c := range calls {
		if !strings.HasSuffix(c, " Bearer "+want[i]) {
			t.Errorf("call %d: got %q, want the token %q", i, c, want[i])
		}
	}

	// Unset, cm-server sends no token (make run, loopback).
	open := &recordingAPI{status: http.StatusOK}
	srv2 := httptest.NewServer(open)
	t.Cleanup(srv2.Close)
	if rec := apitest.Do(newTestServer(t, &fakeSender{}, srv2.URL, time.Second), "GET", "/getAllUserBuys/joe", "", nil); rec.Code != http.StatusOK {
		t.Fatalf("without a token file: got %d, want 200", rec.Code)
	}
	if c := open.calls(); len(c) != 1 || !strings.HasSuffix(c[0], " ") {
		t.Errorf("without a token file: got calls %q, want one without Authorization", c)
	}
}

// TestCMAPIRefusal_isADeploymentError: when cm-api refuses cm-server's
// identity (401, 403), the shopper's list and a keyed purchase get a 502
// without cm-api's text (the purchase is not sent unchecked), and both say
// why in the log.
func TestCMAPIRefusal_isADeploymentError(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(&recordingAPI{status: status})
			t.Cleanup(srv.Close)
			cfg, err := loadConfig(apitest.Lookup(map[string]string{"CM_API_URL": srv.URL}))
			if err != nil {
				t.Fatal(err)
			}
			var logs syncBuffer
			log := slog.New(slog.NewJSONHandler(&logs, nil))
			snd := &fakeSender{}
			h := newServer(log, cfg, snd, newAPIClient(srv.URL, time.Second), server.NewReadiness(log), telemetry.NewMetrics("cm-server"))

			rec := apitest.Do(h, "GET", "/getAllUserBuys/joe", "", nil)
			if rec.Code != http.StatusBadGateway || strings.Contains(rec.Body.String(), "refusal text") {
				t.Errorf("GET /getAllUserBuys: got %d %s, want 502 without cm-api's message", rec.Code, rec.Body)
			}
			header := map[string]string{"Content-Type": "application/json", "Idempotency-Key": "k-1"}
			if rec := apitest.Do(h, "POST", "/buy", joe, header); rec.Code != http.StatusBadGateway || len(snd.sent()) != 0 ||
				strings.Contains(rec.Body.String(), "refusal text") {
				t.Errorf("POST /buy with a key: got %d %s and %d events, want 502 without cm-api's message and none sent", rec.Code, rec.Body, len(snd.sent()))
			}
			if n := strings.Count(logs.String(), "CM_API_TOKEN_FILE"); n != 2 {
				t.Errorf("log lines naming CM_API_TOKEN_FILE: got %d, want 2 (the list and the claim):\n%s", n, logs.String())
			}
		})
	}
}

// syncBuffer is a bytes.Buffer for concurrent log writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
