package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
	"github.com/scalable-shop/scalable-shop/functions/apitest/authtest"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

// knativeProxies is the setting docs/security.md gives for Knative: the
// queue-proxy (loopback), the activator when it is in the path and the
// ingress's Envoy append, all from the pod network (here 10.244.0.0/16).
var knativeProxies = map[string]string{"FORWARDED_FOR_HOPS": "3", "FORWARDED_FOR_TRUSTED": "127.0.0.0/8,::1,10.244.0.0/16"}

// from sends method target from peer with the given X-Forwarded-For
// headers (none when nil) and headers.
func from(h http.Handler, method, target, peer string, xff []string, header map[string]string) *httptest.ResponseRecorder {
	body := ""
	if method == http.MethodPost {
		body = joe
	}
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.RemoteAddr = peer
	req.Header.Set("Content-Type", "application/json")
	for _, v := range xff {
		req.Header.Add("X-Forwarded-For", v)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestClientAddress(t *testing.T) {
	t.Parallel()
	knative := proxiesOf(t, knativeProxies)
	tests := []struct {
		name string
		p    proxies
		peer string
		xff  []string
		want string
	}{
		{"default_is_the_peer", proxies{}, "198.51.100.7:4000", []string{"203.0.113.1"}, "ip-198.51.100.7"},
		{"untrusted_peer_writes_nothing", knative, "198.51.100.7:4000", []string{"10.244.1.1, 203.0.113.1"}, "ip-198.51.100.7"},
		{"ingress_then_queue_proxy", knative, "127.0.0.1:50000", []string{"203.0.113.9, 10.244.1.5"}, "ip-203.0.113.9"},
		{"ingress_activator_queue_proxy", knative, "127.0.0.1:50000", []string{"203.0.113.9, 10.244.1.5, 10.244.2.6"}, "ip-203.0.113.9"},
		{"forged_public_prefix", knative, "127.0.0.1:50000", []string{"198.51.100.1, 192.0.2.2, 203.0.113.9, 10.244.1.5"}, "ip-203.0.113.9"},
		{"forged_private_prefix", knative, "127.0.0.1:50000", []string{"10.7.8.7, 10.0.0.2, 172.16.5.5, 10.244.1.5"}, "ip-172.16.5.5"},
		{"forged_pod_addresses_stop_at_hops", knative, "127.0.0.1:50000", []string{"10.9.9.9, 10.244.7.7, 10.244.1.5, 10.244.2.6"}, "ip-10.244.7.7"},
		{"several_headers_read_right_to_left", knative, "127.0.0.1:50000", []string{"198.51.100.1", "203.0.113.9, 10.244.1.5"}, "ip-203.0.113.9"},
		{"too_short_chain_is_the_last_proxy", knative, "127.0.0.1:50000", []string{"10.244.1.5"}, "ip-10.244.1.5"},
		{"no_header_is_the_peer", knative, "127.0.0.1:50000", nil, "ip-127.0.0.1"},
		{"empty_entries_skipped", knative, "127.0.0.1:50000", []string{"203.0.113.9, , 10.244.1.5,"}, "ip-203.0.113.9"},
		{"garbage_where_a_proxy_wrote_stops_there", knative, "127.0.0.1:50000", []string{"203.0.113.9, not-an-ip, 10.244.1.5"}, "ip-10.244.1.5"},
		{"garbage_left_of_the_client_never_read", knative, "127.0.0.1:50000", []string{"<script>, 203.0.113.9, 10.244.1.5"}, "ip-203.0.113.9"},
		{"ports_and_mapped_addresses", knative, "127.0.0.1:50000", []string{"[2001:db8:1:2::9]:443, ::ffff:10.244.1.5"}, "ip-2001:db8:1:2::/64"},
		{"ipv4_with_port", knative, "127.0.0.1:50000", []string{"203.0.113.9:61000, 10.244.1.5"}, "ip-203.0.113.9"},
		{"ipv6_peer_and_chain", knative, "[::1]:50000", []string{"2001:db8:aa:bb:1:2:3:4, 10.244.1.5"}, "ip-2001:db8:aa:bb::/64"},
		{"ipv6_one_64_is_one_client", proxies{}, "[2001:db8:aa:bb:ffff::1]:1", nil, "ip-2001:db8:aa:bb::/64"},
		{"ipv6_zone_dropped", proxies{}, "[fe80::1%eth0]:1", nil, "ip-fe80::/64"},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = tt.peer
		for _, v := range tt.xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		if got := tt.p.clientOf(req); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func proxiesOf(t *testing.T, vars map[string]string) proxies {
	t.Helper()
	cfg, err := loadConfig(apitest.Lookup(vars))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Proxies
}

func TestLimitsConfig(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		vars map[string]string
		want string // in the error; "" = valid
	}{
		{"knative_setting", knativeProxies, ""},
		{"single_addresses", map[string]string{"FORWARDED_FOR_HOPS": "1", "FORWARDED_FOR_TRUSTED": "10.0.0.5, 2001:db8::5"}, ""},
		{"old_variable_refused", map[string]string{"TRUST_FORWARDED_FOR": "true"}, "TRUST_FORWARDED_FOR is no longer read"},
		{"hops_negative", map[string]string{"FORWARDED_FOR_HOPS": "-1"}, "FORWARDED_FOR_HOPS"},
		{"hops_too_many", map[string]string{"FORWARDED_FOR_HOPS": "11"}, "FORWARDED_FOR_HOPS"},
		{"hops_not_a_number", map[string]string{"FORWARDED_FOR_HOPS": "auto"}, "FORWARDED_FOR_HOPS"},
		{"trusted_garbage", map[string]string{"FORWARDED_FOR_TRUSTED": "pods"}, "FORWARDED_FOR_TRUSTED"},
		{"trusted_bad_prefix", map[string]string{"FORWARDED_FOR_TRUSTED": "10.0.0.0/33"}, "FORWARDED_FOR_TRUSTED"},
		{"trusted_everything", map[string]string{"FORWARDED_FOR_TRUSTED": "0.0.0.0/0"}, "trusts nearly every address"},
		{"trusted_everything_v6", map[string]string{"FORWARDED_FOR_TRUSTED": "::/0"}, "trusts nearly every address"},
		{"request_limit_negative", map[string]string{"REQUEST_RATE_LIMIT": "-1"}, "REQUEST_RATE_LIMIT"},
		{"failure_burst_zero", map[string]string{"AUTH_FAILURE_BURST": "0"}, "AUTH_FAILURE_BURST"},
	} {
		_, err := loadConfig(apitest.Lookup(tt.vars))
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: got %v, want an error with %q (none if empty)", tt.name, err, tt.want)
		}
	}
}

// TestEveryClientRouteIsLimitedPerAddress: with REQUEST_RATE_LIMIT, each
// route a client uses answers 429 with Retry-After and the JSON error past
// the burst, per address; the probes never do.
func TestEveryClientRouteIsLimitedPerAddress(t *testing.T) {
	t.Parallel()
	for _, rt := range []struct{ method, target string }{
		{"POST", "/buy"}, {"GET", "/getAllUserBuys/joe"}, {"GET", "/"}, {"GET", "/assets/app.js"}, {"GET", "/openapi.yaml"},
	} {
		t.Run(strings.Trim(strings.ReplaceAll(rt.target, "/", "_"), "_"), func(t *testing.T) {
			t.Parallel()
			h := newConfiguredServer(t, map[string]string{"REQUEST_RATE_LIMIT": "0.001", "REQUEST_RATE_BURST": "3"}, &fakeSender{})
			var passed, limited int
			for range 10 {
				rec := from(h, rt.method, rt.target, "203.0.113.1:1", nil, nil)
				if rec.Code != http.StatusTooManyRequests {
					passed++
					continue
				}
				limited++
				if rec.Header().Get("Retry-After") == "" || decodeJSON[server.ErrorBody](t, rec).Status != "Error" {
					t.Errorf("429: got Retry-After %q body %s, want both", rec.Header().Get("Retry-After"), rec.Body)
				}
			}
			if passed != 3 || limited != 7 {
				t.Errorf("10 requests, burst 3: got %d through and %d limited, want 3 and 7", passed, limited)
			}
			if rec := from(h, rt.method, rt.target, "203.0.113.2:1", nil, nil); rec.Code == http.StatusTooManyRequests {
				t.Error("another address: got 429, want its own budget")
			}
		})
	}
	t.Run("probes_not_limited", func(t *testing.T) {
		t.Parallel()
		h := newConfiguredServer(t, map[string]string{"REQUEST_RATE_LIMIT": "0.001", "REQUEST_RATE_BURST": "1"}, &fakeSender{})
		for i := range 20 {
			for _, target := range []string{"/healthz", "/readyz"} {
				if rec := from(h, "GET", target, "127.0.0.1:1", nil, nil); rec.Code == http.StatusTooManyRequests {
					t.Fatalf("%s, request %d: got 429, want probes never limited", target, i+1)
				}
			}
		}
	})
}

// TestFailedAuthenticationsAreBudgeted: wrong keys from one address spend
// its budget and, once it is used up, are refused with 429 before the key
// is checked, a right key from there too; valid keys spend nothing, and
// another address keeps its budget.
func TestFailedAuthenticationsAreBudgeted(t *testing.T) {
	t.Parallel()
	h := newConfiguredServer(t, map[string]string{"API_KEYS": keyA, "AUTH_FAILURE_LIMIT": "0.001", "AUTH_FAILURE_BURST": "3"}, &fakeSender{})
	wrong := map[string]string{"Authorization": "Bearer " + keyB}
	right := map[string]string{"Authorization": "Bearer " + keyA}
	for i := range 10 {
		if rec := from(h, "POST", "/buy", "198.51.100.5:1", nil, right); rec.Code != http.StatusAccepted {
			t.Fatalf("right key %d: got %d, want 202 (successes spend nothing)", i+1, rec.Code)
		}
	}
	counts := map[int]int{}
	for i := range 10 {
		target := []string{"/buy", "/getAllUserBuys/joe"}[i%2]
		method := []string{"POST", "GET"}[i%2]
		rec := from(h, method, target, "203.0.113.1:1", nil, wrong)
		counts[rec.Code]++
		if rec.Code == http.StatusTooManyRequests && rec.Header().Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
	}
	if counts[http.StatusUnauthorized] != 3 || counts[http.StatusTooManyRequests] != 7 {
		t.Errorf("10 wrong keys, budget 3: got %v, want 3 × 401 and 7 × 429", counts)
	}
	if rec := from(h, "POST", "/buy", "203.0.113.1:1", nil, right); rec.Code != http.StatusTooManyRequests {
		t.Errorf("right key from the refused address: got %d, want 429 (checked before authentication)", rec.Code)
	}
	if rec := from(h, "POST", "/buy", "203.0.113.2:1", nil, wrong); rec.Code != http.StatusUnauthorized {
		t.Errorf("wrong key from another address: got %d, want 401", rec.Code)
	}
}

// TestForgedForwardedChainsShareOneBudget: behind Knative's setting, 200
// purchases each with a new forged private chain in front of what the
// proxies appended are one client, limited as one.
func TestForgedForwardedChainsShareOneBudget(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"BUY_RATE_LIMIT": "0.001", "BUY_RATE_BURST": "5"}
	for k, v := range knativeProxies {
		vars[k] = v
	}
	snd := &fakeSender{}
	h := newConfiguredServer(t, vars, snd)
	counts := map[int]int{}
	for i := range 200 {
		forged := fmt.Sprintf("10.%d.%d.7, 10.0.0.2", i/256, i%256)
		counts[from(h, "POST", "/buy", "127.0.0.1:40000", []string{forged + ", 192.168.1.20, 10.244.1.5"}, nil).Code]++
	}
	if counts[http.StatusAccepted] != 5 || counts[http.StatusTooManyRequests] != 195 || len(snd.sent()) != 5 {
		t.Errorf("200 forged chains from one client, burst 5: got %v and %d sent, want 5 × 202, 195 × 429, 5 sent", counts, len(snd.sent()))
	}
}

// TestPurchasesLimitedPerCaller: after authentication, BUY_RATE_LIMIT
// counts per API key, so two keys from one address each have their own.
func TestPurchasesLimitedPerCaller(t *testing.T) {
	t.Parallel()
	h := newConfiguredServer(t, map[string]string{"API_KEYS": keyA + "," + keyB, "BUY_RATE_LIMIT": "0.001", "BUY_RATE_BURST": "2"}, &fakeSender{})
	for _, key := range []string{keyA, keyB} {
		var codes []int
		for range 3 {
			codes = append(codes, from(h, "POST", "/buy", "203.0.113.1:1", nil, map[string]string{"Authorization": "Bearer " + key}).Code)
		}
		if fmt.Sprint(codes) != fmt.Sprint([]int{202, 202, 429}) {
			t.Errorf("key %s…: got %v, want [202 202 429]", key[:10], codes)
		}
	}
}

// TestUsernameClaimSub: with AUTH_USERNAME_CLAIM=sub the shopper is the
// subject, whatever the token's preferred_username says.
func TestUsernameClaimSub(t *testing.T) {
	t.Parallel()
	iss := authtest.NewIssuer(t, "scalable-shop")
	h := newConfiguredServer(t, map[string]string{"AUTH_ISSUER_URL": iss.URL, "AUTH_AUDIENCE": iss.Audience, "AUTH_USERNAME_CLAIM": "sub"}, &fakeSender{})
	// authtest's tokens for "joe" carry sub "user-joe".
	renamed := iss.Token(t, "mallory", authtest.Claims{"sub": "user-joe", "preferred_username": "ann"})
	for _, c := range []struct {
		username string
		want     int
	}{{"user-joe", http.StatusAccepted}, {"ann", http.StatusForbidden}, {"mallory", http.StatusForbidden}} {
		body := strings.Replace(joe, `"joe"`, `"`+c.username+`"`, 1)
		rec := apitest.Do(h, "POST", "/buy", body, map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + renamed})
		if rec.Code != c.want {
			t.Errorf("buy as %q with sub user-joe: got %d, want %d (%s)", c.username, rec.Code, c.want, rec.Body)
		}
	}
}

// FuzzClientAddress: whatever a client writes in X-Forwarded-For before
// what Knative's proxies appended, the client is the address the ingress
// appended; and a header alone, from an untrusted peer, changes nothing.
func FuzzClientAddress(f *testing.F) {
	for _, s := range []string{"", "10.0.0.1", "10.244.0.9, 10.244.0.8", "::1, [::1]:80", ",,,", "not-an-ip", "2001:db8::1%eth0"} {
		f.Add(s)
	}
	cfg, err := loadConfig(apitest.Lookup(knativeProxies))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, forged string) {
		if !apitest.WireHeader(forged) {
			t.Skip()
		}
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Add("X-Forwarded-For", forged)
		req.Header.Add("X-Forwarded-For", "203.0.113.9, 10.244.1.5")
		if got := cfg.Proxies.clientOf(req); got != "ip-203.0.113.9" {
			t.Errorf("forged %q: got %q, want ip-203.0.113.9", forged, got)
		}
		req.RemoteAddr = "198.51.100.7:1"
		if got := cfg.Proxies.clientOf(req); got != "ip-198.51.100.7" {
			t.Errorf("untrusted peer, forged %q: got %q, want the peer", forged, got)
		}
	})
}
