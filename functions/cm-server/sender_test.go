package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
	"github.com/scalable-shop/scalable-shop/functions/internal/logging"
	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
)

// testCAPEM is a certificate as K_CA_CERTS carries it.
var testCAPEM = func() string {
	srv := httptest.NewTLSServer(nil)
	defer srv.Close()
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
}()

// TestNewSender_saysWhichTransport: the transport is logged once at start;
// on Knative (K_REVISION) without K_SINK the fallback to direct Kafka is a
// warning, since purchases then bypass the KafkaSink.
func TestNewSender_saysWhichTransport(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		env       map[string]string
		wantLevel string
		wantMsg   string
	}{
		{"sink", map[string]string{"K_SINK": "http://sink.example/shop/purchases", "K_REVISION": "cm-server-00001"}, "INFO", "HTTP to the sink"},
		{"kafka_off_knative", map[string]string{}, "INFO", "Kafka directly"},
		{"kafka_on_knative_without_sink", map[string]string{"K_REVISION": "cm-server-00001"}, "WARN", "is the KafkaSink Ready?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := loadConfig(apitest.Lookup(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			log, _ := logging.New(&out, "info", "cm-server")
			ctx, cancel := context.WithCancel(context.Background())
			snd, err := newSender(ctx, log, cfg)
			if err != nil {
				t.Fatal(err)
			}
			cancel()
			_ = snd.Close()
			var line struct{ Level, Msg, Transport string }
			if err := json.NewDecoder(&out).Decode(&line); err != nil {
				t.Fatalf("log: %v", err)
			}
			if line.Level != tt.wantLevel || !strings.Contains(line.Msg, tt.wantMsg) || line.Transport != cfg.transport() {
				t.Errorf("got %s %q transport %q, want %s with %q and transport %q",
					line.Level, line.Msg, line.Transport, tt.wantLevel, tt.wantMsg, cfg.transport())
			}
		})
	}
}

// TestHTTPSender_sendsTheSinkBindingsToken: with authentication-oidc the
// SinkBinding mounts a token for the KafkaSink's audience; every event
// carries it, and without the file none is sent.
func TestHTTPSender_sendsTheSinkBindingsToken(t *testing.T) {
	t.Parallel()
	got := make(chan string, 2)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Authorization")
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(sink.Close)
	dir := t.TempDir()
	withToken := filepath.Join(dir, "token")
	if err := os.WriteFile(withToken, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{withToken: "Bearer first", filepath.Join(dir, "none"): ""} {
		snd, e := newTestHTTPSender(t, sink.URL, file)
		if err := snd.Send(context.Background(), e); err != nil {
			t.Fatalf("send: %v", err)
		}
		if a := <-got; a != want {
			t.Errorf("token file %s: Authorization %q, want %q", filepath.Base(file), a, want)
		}
	}
}

// TestFileToken_rereadsTheFileOnceASecond: a renewed token (or one that
// appears, or goes) is sent from the first request a second after the last
// read, and the file is not read in between.
func TestFileToken_rereadsTheFileOnceASecond(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "token")
	var sent []string
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent = append(sent, r.Header.Get("Authorization"))
		return &http.Response{StatusCode: http.StatusAccepted, Body: http.NoBody, Request: r}, nil
	})
	now := time.Unix(1000, 0)
	tok := &fileToken{base: base, file: file, now: func() time.Time { return now }}
	steps := []struct {
		token string // written before the request; "-" removes the file
		after time.Duration
		want  string
	}{
		{"-", 0, ""},
		{"first", 500 * time.Millisecond, ""}, // read half a second ago: not yet
		{"", 500 * time.Millisecond, "Bearer first"},
		{"renewed\n", 999 * time.Millisecond, "Bearer first"},
		{"", time.Millisecond, "Bearer renewed"},
		{"-", time.Second, ""},
	}
	for i, st := range steps {
		switch st.token {
		case "":
		case "-":
			_ = os.Remove(file)
		default:
			if err := os.WriteFile(file, []byte(st.token), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		now = now.Add(st.after)
		req := httptest.NewRequest(http.MethodPost, "http://sink.example/", nil)
		if _, err := tok.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
		if got := sent[len(sent)-1]; got != st.want {
			t.Errorf("step %d: Authorization %q, want %q", i, got, st.want)
		}
		if req.Header.Get("Authorization") != "" {
			t.Errorf("step %d: the caller's request was changed", i)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestHTTPSender_reusesConnections: rounds of concurrent sends reuse the
// connections of the first round instead of dialling new ones.
func TestHTTPSender_reusesConnections(t *testing.T) {
	t.Parallel()
	const concurrent, rounds = 48, 3
	var dialled atomic.Int64
	sink := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(5 * time.Millisecond) // so the sends of a round overlap
		w.WriteHeader(http.StatusAccepted)
	}))
	sink.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialled.Add(1)
		}
	}
	sink.Start()
	t.Cleanup(sink.Close)
	snd, e := newTestHTTPSender(t, sink.URL, "")
	for range rounds {
		var wg sync.WaitGroup
		for range concurrent {
			wg.Go(func() {
				if err := snd.Send(context.Background(), e); err != nil {
					t.Errorf("send: %v", err)
				}
			})
		}
		wg.Wait()
	}
	if got := dialled.Load(); got > concurrent {
		t.Errorf("%d rounds of %d sends at once dialled %d connections, want at most %d", rounds, concurrent, got, concurrent)
	}
}

// newTestHTTPSender is an HTTP sender to url (with the token in tokenFile,
// "" for none), closed when the test ends, and an event to send.
func newTestHTTPSender(t *testing.T, url, tokenFile string) (*httpSender, event.Event) {
	t.Helper()
	snd, err := newHTTPSender(url, "", tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = snd.Close() })
	p, err := purchase.Parse("p-1", []byte(joe), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return snd, purchase.NewEvent(p, "/test")
}
