package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
	"github.com/scalable-shop/scalable-shop/functions/apitest/authtest"

	"github.com/scalable-shop/scalable-shop/functions/internal/server"
	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

// tracked is how many clients the limiter remembers.
func (l *limiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.clients.Len()
}

const (
	keyA = "test-key-aaaaaaaaaaaaaaaa"
	keyB = "test-key-bbbbbbbbbbbbbbbb"
)

func newConfiguredServer(t *testing.T, vars map[string]string, snd sender) http.Handler {
	t.Helper()
	cfg, err := loadConfig(apitest.Lookup(vars))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	// Nothing listens on port 1: refused at once, a 502 however busy the
	// machine (a short timeout could run out first and make it a 504).
	return newServer(log, cfg, snd, newAPIClient("http://127.0.0.1:1", 10*time.Second), server.NewReadiness(log), telemetry.NewMetrics("cm-server"))
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(file, []byte("# shop keys\n"+keyB+"\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newConfiguredServer(t, map[string]string{"API_KEYS": keyA, "API_KEYS_FILE": file}, &fakeSender{})
	tests := []struct {
		name, method, target, auth string
		wantStatus                 int
	}{
		{"buy_401_no_key", "POST", "/buy", "", http.StatusUnauthorized},
		{"buy_401_wrong_key", "POST", "/buy", "Bearer " + keyA + "x", http.StatusUnauthorized},
		{"buy_401_basic_scheme", "POST", "/buy", "Basic " + keyA, http.StatusUnauthorized},
		{"buy_202_env_key", "POST", "/buy", "Bearer " + keyA, http.StatusAccepted},
		{"buy_202_file_key", "POST", "/buy", "bearer " + keyB, http.StatusAccepted},
		{"list_401_no_key", "GET", "/getAllUserBuys/joe", "", http.StatusUnauthorized},
		{"list_with_key_reaches_cm_api", "GET", "/getAllUserBuys/joe", "Bearer " + keyA, http.StatusBadGateway},
		{"healthz_public", "GET", "/healthz", "", http.StatusOK},
		{"ui_public", "GET", "/", "", http.StatusOK},
		{"openapi_public", "GET", "/openapi.yaml", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := apitest.Do(h, tt.method, tt.target, joe, map[string]string{"Content-Type": "application/json", "Authorization": tt.auth})
			if rec.Code != tt.wantStatus {
				t.Fatalf("status: got %d, want %d (%s)", rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantStatus == http.StatusUnauthorized {
				if rec.Header().Get("WWW-Authenticate") == "" || !strings.Contains(rec.Body.String(), `"status":"Error"`) {
					t.Errorf("401: got headers %v body %s, want WWW-Authenticate and a JSON error", rec.Header(), rec.Body)
				}
				if strings.Contains(rec.Body.String(), keyA) {
					t.Error("401 body echoes the key")
				}
			}
		})
	}
}

func TestAPIKeysConfig(t *testing.T) {
	t.Parallel()
	if _, err := loadConfig(apitest.Lookup(map[string]string{"API_KEYS": "short"})); err == nil {
		t.Error("a 5-character key: got no error, want one")
	}
	if _, err := loadConfig(apitest.Lookup(map[string]string{"API_KEYS_FILE": "/nonexistent/keys"})); err == nil {
		t.Error("a missing key file: got no error, want one")
	}
}

// TestLimiterForgetsClientsOnceTheirBucketIsFull: a client is remembered
// while its bucket refills (forgetting it would hand it a full one early)
// and forgotten once it is full, when it is the same as a new client.
func TestLimiterForgetsClientsOnceTheirBucketIsFull(t *testing.T) {
	t.Parallel()
	l := newLimiter(1, 1)
	start := time.Now()
	if ok, _ := l.allow("a", start); !ok {
		t.Fatal("first request refused")
	}
	if ok, wait := l.allow("a", start); ok || wait <= 0 {
		t.Fatalf("second request at once: got ok=%v wait=%v, want refused with a wait", ok, wait)
	}
	l.allow("b", start.Add(500*time.Millisecond))
	if got := l.tracked(); got != 2 {
		t.Errorf("half a second later, a's bucket half full: tracking %d clients, want a and b", got)
	}
	l.allow("c", start.Add(2*time.Second))
	if got := l.tracked(); got != 1 {
		t.Errorf("two seconds later, a's and b's buckets full: tracking %d clients, want only c", got)
	}
}

// TestLimiterIsBounded: however many clients come, the limiter tracks at
// most its size, forgets the least recently seen first, and keeps limiting
// the clients it still tracks.
func TestLimiterIsBounded(t *testing.T) {
	t.Parallel()
	const size = 1000
	l := newLimiterSize(1, 1, size)
	now := time.Now()
	if ok, _ := l.allow("busy", now); !ok {
		t.Fatal("busy's first request refused")
	}
	for i := range 10 * size {
		if i%100 == 0 {
			// busy keeps coming back, so it is never the least recent.
			if ok, _ := l.allow("busy", now); ok {
				t.Fatalf("busy after %d other clients: allowed, want still limited", i)
			}
		}
		if ok, _ := l.allow(fmt.Sprintf("client-%d", i), now); !ok {
			t.Fatalf("client-%d's first request refused", i)
		}
	}
	if got := l.tracked(); got != size {
		t.Errorf("after %d clients: tracking %d, want %d", 10*size, got, size)
	}
	if ok, _ := l.allow("client-0", now); !ok {
		t.Error("client-0, forgotten long ago: refused, want a fresh bucket")
	}
}

// TestLimiterForgetsIdleClientsAsItGoes: clients whose buckets are full
// again are forgotten a few per call, with no sweep, so a crowd that went
// quiet is gone after about as many calls as it had clients.
func TestLimiterForgetsIdleClientsAsItGoes(t *testing.T) {
	t.Parallel()
	l := newLimiter(1, 1)
	start := time.Now()
	for i := range 500 {
		l.allow(fmt.Sprintf("crowd-%d", i), start)
	}
	later := start.Add(2 * time.Second) // rate 1, burst 1: full after 1 s
	for i := range 500 {
		l.allow("regular", later.Add(time.Duration(i)*time.Millisecond))
	}
	if got := l.tracked(); got != 1 {
		t.Errorf("after the crowd idled: tracking %d clients, want 1", got)
	}
}

// TestSecretsNeverLogged runs cm-server with every secret it can be given,
// against brokers that do not answer, sends it good and bad shoppers'
// tokens, and checks logs and answers.
func TestSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	iss := authtest.NewIssuer(t, "scalable-shop")
	secrets := map[string]string{
		"API_KEYS":            keyA,
		"KAFKA_SASL_PASSWORD": "sasl-secret-7c1f",
		"CM_API_URL":          "http://apiuser:url-secret-91ab@127.0.0.1:1",
	}
	vars := map[string]string{"KAFKA_BROKERS": "127.0.0.1:1", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
		"KAFKA_SASL_USERNAME": "shop", "LOG_LEVEL": "debug", "SEND_TIMEOUT": "300ms", "CM_API_TIMEOUT": "300ms",
		"AUTH_ISSUER_URL": iss.URL, "AUTH_AUDIENCE": iss.Audience, "AUTH_USERNAME_CLAIM": "preferred_username"}
	for k, v := range secrets {
		vars[k] = v
	}
	tokens := map[string]string{"a valid token": iss.Token(t, "joe", nil), "an expired token": iss.Expired(t, "joe"),
		"a forged token": iss.Foreign(t, "joe"), "an alg none token": iss.None(t, "joe"),
		"another user's token": iss.Token(t, "ann", nil)}
	for name, token := range tokens {
		secrets[name] = token
	}
	var logs apitest.SyncBuffer
	srv := apitest.StartRun(t, run, vars, &logs)
	base := srv.Base
	var bodies bytes.Buffer
	for _, req := range []struct{ method, path, auth string }{
		{"GET", "/readyz", ""}, {"POST", "/buy", ""}, {"POST", "/buy", "Bearer wrong-key-0000000000"},
		{"POST", "/buy", "Bearer " + keyA}, {"GET", "/getAllUserBuys/joe", "Bearer " + keyA},
		{"POST", "/buy", "Bearer " + tokens["a valid token"]}, {"POST", "/buy", "Bearer " + tokens["an expired token"]},
		{"POST", "/buy", "Bearer " + tokens["a forged token"]}, {"POST", "/buy", "Bearer " + tokens["an alg none token"]},
		{"GET", "/getAllUserBuys/joe", "Bearer " + tokens["another user's token"]},
	} {
		r, _ := http.NewRequest(req.method, base+req.path, strings.NewReader(joe))
		r.Header.Set("Content-Type", "application/json")
		if req.auth != "" {
			r.Header.Set("Authorization", req.auth)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatalf("%s %s: %v", req.method, req.path, err)
		}
		_, _ = bodies.ReadFrom(resp.Body)
		resp.Body.Close()
	}
	// Let the background connect fail and log it (the brokers do not answer).
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(logs.String(), "cannot reach Kafka") &&
		time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	_ = srv.Stop(t) // only the logs and answers count here
	for name, secret := range secrets {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the logs show %s", name)
		}
		if strings.Contains(bodies.String(), secret) {
			t.Errorf("an answer shows %s", name)
		}
	}
	if !strings.Contains(logs.String(), "REDACTED") || !strings.Contains(logs.String(), "cannot reach Kafka") ||
		!strings.Contains(logs.String(), `"reason":"expired"`) {
		t.Errorf("logs: want the redacted cm-api URL, the Kafka failure and a refused token's reason; got:\n%s", logs.String())
	}
}

// BenchmarkLimiterAllow is one allow among a million distinct clients, the
// limiter full: "returning" cycles through maxClients of them (each call
// finds its bucket), "new" through a million (each call forgets the least
// recent client and adds one). Compare ns/op and B/op with the limiter's
// size: they must not grow with it.
func BenchmarkLimiterAllow(b *testing.B) {
	const distinct = 1_000_000
	names := make([]string, distinct)
	for i := range names {
		names[i] = fmt.Sprintf("ip-198.51.%d.%d", i/65536, i%65536)
	}
	for _, bc := range []struct {
		name    string
		clients int
	}{{"returning_100k", maxClients}, {"new_1M", distinct}} {
		b.Run(bc.name, func(b *testing.B) {
			l := newLimiter(1000, 2000)
			now := time.Now()
			for i := range maxClients {
				l.allow(names[(distinct-maxClients+i)%bc.clients], now)
			}
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				l.allow(names[i%bc.clients], now)
				i++
			}
			if got := l.tracked(); got > maxClients {
				b.Fatalf("tracking %d clients, want at most %d", got, maxClients)
			}
		})
	}
}
