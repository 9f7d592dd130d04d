package main

import (
	"context"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
	"github.com/scalable-shop/scalable-shop/functions/apitest/authtest"
	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

// sourceSubject is the KafkaSource's service account, as Knative names it.
const sourceSubject = "system:serviceaccount:shop:purchases-source-oidc-source"

func TestSenderIdentity(t *testing.T) {
	t.Parallel()
	iss := authtest.NewIssuer(t, "cm-api-events")
	source := authtest.Claims{"sub": sourceSubject}
	tests := []struct {
		name       string
		token      string
		wantStatus int
		wantStored int
	}{
		{"receive_200_source_token", iss.Token(t, "", source), http.StatusOK, 1},
		{"receive_200_source_es256_token", iss.ES256(t, "", source), http.StatusOK, 1},
		{"receive_401_no_token", "", http.StatusUnauthorized, 0},
		{"receive_401_wrong_audience", iss.Token(t, "", authtest.Claims{"sub": sourceSubject, "aud": "cm-server"}), http.StatusUnauthorized, 0},
		{"receive_401_expired", iss.Token(t, "", authtest.Claims{"sub": sourceSubject, "exp": 1}), http.StatusUnauthorized, 0},
		{"receive_401_alg_none", iss.None(t, ""), http.StatusUnauthorized, 0},
		{"receive_401_foreign_key", iss.Foreign(t, ""), http.StatusUnauthorized, 0},
		{"receive_403_other_service_account", iss.Token(t, "", authtest.Claims{"sub": "system:serviceaccount:shop:default"}), http.StatusForbidden, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := loadConfigIn(apitest.Lookup(map[string]string{"EVENTS_AUDIENCE": "cm-api-events",
				"EVENTS_ISSUER_URL": iss.URL, "EVENTS_ALLOWED_SUBJECTS": "other, " + sourceSubject}), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			st := newMemStore()
			log := slog.New(slog.DiscardHandler)
			h := newServer(log, cfg, st, testBatcher(t, st), nil, server.NewReadiness(log), testMetrics())
			header := binary("src-1", purchase.EventType)
			if tt.token != "" {
				header["Authorization"] = "Bearer " + tt.token
			}
			rec := apitest.Do(h, "POST", "/", data, header)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status: got %d, want %d (%s)", rec.Code, tt.wantStatus, rec.Body)
			}
			if n := st.count(); n != tt.wantStored {
				t.Errorf("stored: got %d, want %d", n, tt.wantStored)
			}
			if rec.Code == http.StatusUnauthorized && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without a Bearer challenge: %v", rec.Header())
			}
			// The reads are READS_*'s business: without READS_AUDIENCE they stay open.
			if rec := apitest.Do(h, "GET", "/buyList/joe", "", nil); rec.Code != http.StatusOK {
				t.Errorf("GET /buyList without READS_AUDIENCE: got %d, want 200", rec.Code)
			}
		})
	}
}

// serverSubject is cm-server's service account, as the chart names it.
const serverSubject = "system:serviceaccount:shop:cm-server"

// TestReaderIdentity: with READS_AUDIENCE, cm-api answers its reads only to
// cm-server's workload identity, and POST / keeps its own audience.
func TestReaderIdentity(t *testing.T) {
	t.Parallel()
	iss := authtest.NewIssuer(t, "cm-api")
	server1 := authtest.Claims{"sub": serverSubject}
	stored := purchase.Purchase{ID: "1b4e28ba-2fa1-11d2-883f-0016d3cca427", KeyID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8", Username: "joe", UserID: "u1",
		Price: purchase.Money(100), Timestamp: time.UnixMilli(1700000000000).UTC()}
	cfg, err := loadConfigIn(apitest.Lookup(map[string]string{"READS_AUDIENCE": "cm-api", "READS_ISSUER_URL": iss.URL,
		"READS_ALLOWED_SUBJECTS": serverSubject, "EVENTS_AUDIENCE": "cm-api-events", "EVENTS_ISSUER_URL": iss.URL}), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := newMemStore()
	if _, err := st.Save(context.Background(), stored); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Claim(context.Background(), claim{Key: stored.KeyID, PurchaseID: stored.ID, Fingerprint: strings.Repeat("f", 64)}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	h := newServer(log, cfg, st, testBatcher(t, st), nil, server.NewReadiness(log), testMetrics())
	tests := []struct {
		name       string
		token      string
		wantStatus int
	}{
		{"200_cm_server_token", iss.Token(t, "", server1), http.StatusOK},
		{"401_no_token", "", http.StatusUnauthorized},
		{"401_events_audience", iss.Token(t, "", authtest.Claims{"sub": serverSubject, "aud": "cm-api-events"}), http.StatusUnauthorized},
		{"401_expired", iss.Token(t, "", authtest.Claims{"sub": serverSubject, "exp": 1}), http.StatusUnauthorized},
		{"401_foreign_key", iss.Foreign(t, ""), http.StatusUnauthorized},
		{"403_other_service_account", iss.Token(t, "", authtest.Claims{"sub": "system:serviceaccount:shop:default"}), http.StatusForbidden},
		{"403_kafkasource", iss.Token(t, "", authtest.Claims{"sub": sourceSubject}), http.StatusForbidden},
	}
	for _, tt := range tests {
		for _, rq := range []struct{ method, path, body string }{
			{"GET", "/buyList/joe", ""},
			// A claim of the stored purchase's own key: answered 200.
			{"PUT", "/claims/" + stored.KeyID, `{"purchase_id":"` + stored.ID + `","fingerprint":"` + strings.Repeat("f", 64) + `"}`},
		} {
			path := rq.path
			t.Run(tt.name+path, func(t *testing.T) {
				t.Parallel()
				header := map[string]string{}
				if tt.token != "" {
					header["Authorization"] = "Bearer " + tt.token
				}
				rec := apitest.Do(h, rq.method, path, rq.body, header)
				if rec.Code != tt.wantStatus {
					t.Fatalf("%s %s: got %d, want %d (%s)", rq.method, path, rec.Code, tt.wantStatus, rec.Body)
				}
				if rec.Code == http.StatusOK && !strings.Contains(rec.Body.String(), stored.ID) {
					t.Errorf("GET %s: got %s, want purchase %s", path, rec.Body, stored.ID)
				}
				if rec.Code != http.StatusOK && strings.Contains(rec.Body.String(), stored.ID) {
					t.Errorf("GET %s refused with %d but the body names the purchase: %s", path, rec.Code, rec.Body)
				}
				if rec.Code == http.StatusUnauthorized && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("401 without a Bearer challenge: %v", rec.Header())
				}
			})
		}
	}
	// cm-server's read token is no event token: POST / keeps its audience.
	t.Run("receive_401_read_token", func(t *testing.T) {
		t.Parallel()
		header := binary("src-2", purchase.EventType)
		header["Authorization"] = "Bearer " + iss.Token(t, "", server1)
		if rec := apitest.Do(h, "POST", "/", data, header); rec.Code != http.StatusUnauthorized {
			t.Errorf("POST / with cm-server's read token: got %d, want 401 (%s)", rec.Code, rec.Body)
		}
	})
	// The probes and the API document stay open: the kubelet carries no
	// token. (Metrics are on METRICS_PORT, not on this handler.)
	for _, path := range []string{"/healthz", "/readyz", "/openapi.yaml"} {
		if rec := apitest.Do(h, "GET", path, "", nil); rec.Code != http.StatusOK {
			t.Errorf("GET %s without a token: got %d, want 200", path, rec.Code)
		}
	}
}

func TestSenderConfig(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfigIn(apitest.Lookup(map[string]string{"EVENTS_AUDIENCE": "cm-api"}), t.TempDir())
	if err != nil || cfg.Events.IssuerURL != kubernetesIssuer || cfg.Senders.Verifier == nil {
		t.Errorf("EVENTS_AUDIENCE alone: got issuer %q verifier %v err %v, want the API server's", cfg.Events.IssuerURL, cfg.Senders.Verifier, err)
	}
	if cfg, err := loadConfig(apitest.Lookup(nil)); err != nil || cfg.Senders.Verifier != nil || cfg.Readers.Verifier != nil {
		t.Errorf("no EVENTS_AUDIENCE, READS_AUDIENCE: got verifiers %v, %v err %v, want none", cfg.Senders.Verifier, cfg.Readers.Verifier, err)
	}
	cfg, err = loadConfigIn(apitest.Lookup(map[string]string{"READS_AUDIENCE": "cm-api"}), t.TempDir())
	if err != nil || cfg.Reads.IssuerURL != kubernetesIssuer || cfg.Readers.Verifier == nil || cfg.Senders.Verifier != nil {
		t.Errorf("READS_AUDIENCE alone: got issuer %q verifier %v events %v err %v, want the API server's for reads only",
			cfg.Reads.IssuerURL, cfg.Readers.Verifier, cfg.Senders.Verifier, err)
	}
	cfg, err = loadConfigIn(apitest.Lookup(map[string]string{"EVENTS_AUDIENCE": "cm-api", "EVENTS_JWKS_REFRESH_INTERVAL": "30s"}), t.TempDir())
	if err != nil || cfg.Events.RefreshInterval != 30*time.Second {
		t.Errorf("EVENTS_JWKS_REFRESH_INTERVAL=30s: got %s %v, want 30s", cfg.Events.RefreshInterval, err)
	}
	for _, vars := range []map[string]string{
		{"EVENTS_AUDIENCE": "cm-api", "EVENTS_JWKS_REFRESH_INTERVAL": "0s"},
		{"EVENTS_AUDIENCE": "cm-api", "EVENTS_JWKS_REFRESH_INTERVAL": "2h"},
		{"EVENTS_ALLOWED_SUBJECTS": sourceSubject},
		{"EVENTS_ISSUER_URL": "https://idp.example"},
		{"EVENTS_AUDIENCE": "cm-api", "EVENTS_JWKS_URL": "https://kubernetes.default.svc/openid/v1/jwks"},
		{"READS_ALLOWED_SUBJECTS": serverSubject},
		{"READS_ISSUER_URL": "https://idp.example"},
		{"READS_AUDIENCE": "cm-api", "READS_ISSUER_URL": "http://idp.example"},
	} {
		if _, err := loadConfig(apitest.Lookup(vars)); err == nil {
			t.Errorf("%v: got no error, want one", vars)
		}
	}
}

// TestCallersKeysURL: at the cluster's own issuer the keys come from the API
// server itself, where the pod's token goes; an issuer named otherwise keeps
// its discovered jwks_uri, and an explicit JWKS URL stays as set.
func TestCallersKeysURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                    string
		vars                    map[string]string
		prefix                  string
		wantIssuer, wantJWKS    string
		wantKeys, wantLoggedURL string
	}{
		{"reads_default_in_cluster", map[string]string{"READS_AUDIENCE": "cm-api"}, "READS",
			kubernetesIssuer, "", kubernetesKeys, kubernetesKeys},
		{"events_default_in_cluster", map[string]string{"EVENTS_AUDIENCE": "cm-api"}, "EVENTS",
			kubernetesIssuer, "", kubernetesKeys, kubernetesKeys},
		{"reads_api_server_named", map[string]string{"READS_AUDIENCE": "cm-api", "READS_ISSUER_URL": kubernetesIssuer + "/"}, "READS",
			kubernetesIssuer + "/", "", kubernetesKeys, kubernetesKeys},
		{"reads_other_issuer_discovered", map[string]string{"READS_AUDIENCE": "cm-api", "READS_ISSUER_URL": "https://idp.example"}, "READS",
			"https://idp.example", "", "", ""},
		{"events_explicit_jwks", map[string]string{"EVENTS_AUDIENCE": "cm-api", "EVENTS_JWKS_URL": "https://idp.example/keys",
			"EVENTS_ISSUER": "https://idp.example"}, "EVENTS", "", "https://idp.example/keys", "", "https://idp.example/keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := loadConfigIn(apitest.Lookup(tt.vars), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			got := cfg.Reads
			if tt.prefix == "EVENTS" {
				got = cfg.Events
			}
			if got.IssuerURL != tt.wantIssuer || got.JWKSURL != tt.wantJWKS || got.KeysURL != tt.wantKeys {
				t.Errorf("got issuer %q, JWKS %q, keys %q; want %q, %q, %q",
					got.IssuerURL, got.JWKSURL, got.KeysURL, tt.wantIssuer, tt.wantJWKS, tt.wantKeys)
			}
			key := strings.ToLower(tt.prefix) + "_jwks_url"
			for _, a := range cfg.logValue().Group() {
				if a.Key == key && a.Value.String() != tt.wantLoggedURL {
					t.Errorf("logged %s: got %q, want %q", key, a.Value.String(), tt.wantLoggedURL)
				}
			}
		})
	}
}

// TestPodTokenOnlyToIssuer: the pod's service-account token goes to the
// issuer's host, over TLS checked against the cluster CA, and nowhere else.
func TestPodTokenOnlyToIssuer(t *testing.T) {
	t.Parallel()
	got := make(chan string, 2)
	record := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Get("Authorization") })
	apiServer, elsewhere := httptest.NewTLSServer(record), httptest.NewTLSServer(record)
	t.Cleanup(apiServer.Close)
	t.Cleanup(elsewhere.Close)
	dir := t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: apiServer.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), ca, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("pod-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	client, err := apiServerClient(apiServer.URL, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ url, want string }{{apiServer.URL, "Bearer pod-token"}, {elsewhere.URL, ""}} {
		resp, err := client.Get(c.url)
		if err != nil {
			t.Fatalf("GET %s: %v (the cluster CA should be trusted)", c.url, err)
		}
		resp.Body.Close()
		if a := <-got; a != c.want {
			t.Errorf("%s: Authorization got %q, want %q", c.url, a, c.want)
		}
	}
}
