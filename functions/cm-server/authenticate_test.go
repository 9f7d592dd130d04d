package main

import (
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
	"github.com/scalable-shop/scalable-shop/functions/apitest/authtest"
	"github.com/scalable-shop/scalable-shop/functions/internal/auth"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

// shopperServer is cm-server with shoppers' tokens from iss, API key keyA,
// and a cm-api stand-in that answers every list with no purchases; extra
// adds variables.
func shopperServer(t *testing.T, iss *authtest.Issuer, snd sender, extra map[string]string) http.Handler {
	t.Helper()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		server.Encode(w, http.StatusOK, buyList{Status: server.StatusOK})
	}))
	t.Cleanup(api.Close)
	vars := map[string]string{"CM_API_URL": api.URL, "API_KEYS": keyA,
		"AUTH_ISSUER_URL": iss.URL, "AUTH_AUDIENCE": iss.Audience, "AUTH_USERNAME_CLAIM": "preferred_username",
		"AUTH_ADMIN_CLAIM": "groups", "AUTH_ADMIN_VALUE": "support"}
	maps.Copy(vars, extra)
	cfg, err := loadConfig(apitest.Lookup(vars))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	return newServer(log, cfg, snd, newAPIClient(api.URL, time.Second), server.NewReadiness(log), telemetry.NewMetrics("cm-server"))
}

func TestShopperTokens(t *testing.T) {
	t.Parallel()
	iss := authtest.NewIssuer(t, "scalable-shop")
	staff := authtest.Claims{"groups": []string{"staff", "support"}}
	tests := []struct {
		name, method, target, token string
		wantStatus                  int
		wantReason                  string // in the 401's message and challenge
	}{
		{"buy_202_own_token", "POST", "/buy", iss.Token(t, "joe", nil), http.StatusAccepted, ""},
		{"buy_202_own_es256_token", "POST", "/buy", iss.ES256(t, "joe", nil), http.StatusAccepted, ""},
		{"buy_202_api_key_for_anyone", "POST", "/buy", keyA, http.StatusAccepted, ""},
		{"buy_403_other_users_token", "POST", "/buy", iss.Token(t, "ann", nil), http.StatusForbidden, ""},
		{"buy_403_staff_for_another", "POST", "/buy", iss.Token(t, "ann", staff), http.StatusForbidden, ""},
		{"buy_403_no_username_claim", "POST", "/buy", iss.Token(t, "joe", authtest.Claims{"preferred_username": nil}), http.StatusForbidden, ""},
		{"buy_401_no_token", "POST", "/buy", "", http.StatusUnauthorized, ""},
		{"buy_401_expired", "POST", "/buy", iss.Expired(t, "joe"), http.StatusUnauthorized, "expired"},
		{"buy_401_wrong_audience", "POST", "/buy", iss.Token(t, "joe", authtest.Claims{"aud": "other"}), http.StatusUnauthorized, "wrong audience"},
		{"buy_401_bad_signature", "POST", "/buy", iss.Foreign(t, "joe"), http.StatusUnauthorized, "bad signature"},
		{"buy_401_alg_none", "POST", "/buy", iss.None(t, "joe"), http.StatusUnauthorized, "not signed with RS256 or ES256"},
		{"buy_401_hmac_public_key", "POST", "/buy", iss.HMAC(t, "joe"), http.StatusUnauthorized, "not signed with RS256 or ES256"},
		{"buy_401_wrong_api_key", "POST", "/buy", keyA + "x", http.StatusUnauthorized, "malformed"},
		{"list_200_own", "GET", "/getAllUserBuys/joe", iss.Token(t, "joe", nil), http.StatusOK, ""},
		{"list_200_staff", "GET", "/getAllUserBuys/joe", iss.Token(t, "ann", staff), http.StatusOK, ""},
		{"list_200_api_key", "GET", "/getAllUserBuys/joe", keyA, http.StatusOK, ""},
		{"list_403_other_user", "GET", "/getAllUserBuys/joe", iss.Token(t, "ann", nil), http.StatusForbidden, ""},
		{"list_403_wrong_staff_group", "GET", "/getAllUserBuys/joe", iss.Token(t, "ann", authtest.Claims{"groups": "staff"}), http.StatusForbidden, ""},
		{"list_401_expired", "GET", "/getAllUserBuys/joe", iss.Expired(t, "joe"), http.StatusUnauthorized, "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			snd := &fakeSender{}
			h := shopperServer(t, iss, snd, nil)
			header := map[string]string{"Content-Type": "application/json"}
			if tt.token != "" {
				header["Authorization"] = "Bearer " + tt.token
			}
			rec := apitest.Do(h, tt.method, tt.target, joe, header)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status: got %d, want %d (%s)", rec.Code, tt.wantStatus, rec.Body)
			}
			if sent := len(snd.sent()); tt.method == "POST" && (sent == 1) != (tt.wantStatus == http.StatusAccepted) {
				t.Errorf("events sent: got %d, want %d", sent, map[bool]int{true: 1}[tt.wantStatus == http.StatusAccepted])
			}
			if tt.token != "" && strings.Contains(rec.Body.String()+rec.Header().Get("WWW-Authenticate"), tt.token) {
				t.Error("the answer echoes the token")
			}
			if tt.wantStatus == http.StatusUnauthorized {
				challenge := rec.Header().Get("WWW-Authenticate")
				if !strings.HasPrefix(challenge, "Bearer ") || !strings.Contains(challenge, tt.wantReason) ||
					!strings.Contains(decodeJSON[server.ErrorBody](t, rec).Message, tt.wantReason) {
					t.Errorf("401: got challenge %q body %s, want Bearer and %q in both", challenge, rec.Body, tt.wantReason)
				}
			}
		})
	}
}

// TestShopperTokensIssuerDown: with the issuer gone, a token signed with a
// cached key still works, and one that needs a key fetch gets 503, not in.
// The JWKS refresh interval is a nanosecond, so the unknown key does ask.
func TestShopperTokensIssuerDown(t *testing.T) {
	t.Parallel()
	iss := authtest.NewIssuer(t, "scalable-shop")
	snd := &fakeSender{}
	h := shopperServer(t, iss, snd, map[string]string{"AUTH_JWKS_REFRESH_INTERVAL": "1ns"})
	buy := func(token string) *httptest.ResponseRecorder {
		return apitest.Do(h, "POST", "/buy", joe, map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + token})
	}
	cached := iss.Token(t, "joe", nil)
	if rec := buy(cached); rec.Code != http.StatusAccepted {
		t.Fatalf("issuer up: got %d, want 202 (%s)", rec.Code, rec.Body)
	}
	iss.Rotate(t, "rsa-unpublished")
	unknown := iss.Token(t, "joe", nil)
	iss.Stop()
	if rec := buy(cached); rec.Code != http.StatusAccepted {
		t.Errorf("issuer down, cached key: got %d, want 202 (%s)", rec.Code, rec.Body)
	}
	rec := buy(unknown)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("issuer down, unknown key: got %d Retry-After %q, want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	if got := len(snd.sent()); got != 2 {
		t.Errorf("events sent: got %d, want 2 (the cached-key purchases only)", got)
	}
}

func TestShopperConfig(t *testing.T) {
	t.Parallel()
	for value, want := range map[string]time.Duration{"": auth.DefaultRefreshInterval, "30s": 30 * time.Second} {
		cfg, err := loadConfig(apitest.Lookup(map[string]string{"AUTH_ISSUER_URL": "https://idp.example", "AUTH_AUDIENCE": "shop",
			"AUTH_USERNAME_CLAIM": "sub", "AUTH_JWKS_REFRESH_INTERVAL": value}))
		if err != nil || cfg.Auth.RefreshInterval != want {
			t.Errorf("AUTH_JWKS_REFRESH_INTERVAL=%q: got %s %v, want %s", value, cfg.Auth.RefreshInterval, err, want)
		}
	}
	for _, tt := range []struct {
		name string
		vars map[string]string
		want string
	}{
		{"issuer_without_audience", map[string]string{"AUTH_ISSUER_URL": "https://idp.example"}, "AUTH_AUDIENCE is required"},
		{"admin_claim_without_value", map[string]string{"AUTH_ISSUER_URL": "https://idp.example", "AUTH_AUDIENCE": "shop", "AUTH_USERNAME_CLAIM": "sub", "AUTH_ADMIN_CLAIM": "groups"}, "set both or neither"},
		{"issuer_without_username_claim", map[string]string{"AUTH_ISSUER_URL": "https://idp.example", "AUTH_AUDIENCE": "shop"}, "AUTH_USERNAME_CLAIM is required"},
		{"jwks_without_username_claim", map[string]string{"AUTH_JWKS_URL": "https://idp.example/keys", "AUTH_ISSUER": "https://idp.example", "AUTH_AUDIENCE": "shop"}, "AUTH_USERNAME_CLAIM is required"},
		{"jwks_without_issuer", map[string]string{"AUTH_JWKS_URL": "https://idp.example/keys", "AUTH_AUDIENCE": "shop"}, "AUTH_JWKS_URL needs AUTH_ISSUER"},
		{"refresh_interval_not_a_duration", map[string]string{"AUTH_ISSUER_URL": "https://idp.example", "AUTH_AUDIENCE": "shop", "AUTH_USERNAME_CLAIM": "sub", "AUTH_JWKS_REFRESH_INTERVAL": "10"}, `AUTH_JWKS_REFRESH_INTERVAL="10": want a positive duration`},
		{"refresh_interval_over_cache_life", map[string]string{"AUTH_ISSUER_URL": "https://idp.example", "AUTH_AUDIENCE": "shop", "AUTH_USERNAME_CLAIM": "sub", "AUTH_JWKS_REFRESH_INTERVAL": "2h"}, "at most the key cache lifetime"},
	} {
		_, err := loadConfig(apitest.Lookup(tt.vars))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error with %q", tt.name, err, tt.want)
		}
	}
}
