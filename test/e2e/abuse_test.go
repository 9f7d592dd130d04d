package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/test/harness"
)

// clientAt is an HTTP client whose connections come from the loopback
// address ip, so one test can be many clients (Linux routes all of
// 127.0.0.0/8 to the loopback interface).
func clientAt(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

// statuses sends n requests from c, the i-th with the headers header(i)
// gives, and counts the answers by status.
func statuses(t *testing.T, c *http.Client, n int, method, url, body string, header func(i int) map[string]string) map[int]int {
	t.Helper()
	counts := map[int]int{}
	for i := range n {
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		for k, v := range header(i) {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s, request %d: %v", method, url, i+1, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s, request %d: 429 without Retry-After", method, url, i+1)
		}
		counts[resp.StatusCode]++
	}
	return counts
}

// forgedChain is a new private X-Forwarded-For chain for each i, as an
// attacker inside a private network would write it.
func forgedChain(i int) string { return fmt.Sprintf("10.%d.%d.7, 10.0.0.2", i/250, i%250) }

// TestAbuseIsLimitedPerAddress runs cm-server with its per-address limits
// and a trusted proxy at 127.0.0.2 (a reverse proxy that appends to
// X-Forwarded-For, as Knative's do), and attacks it from other loopback
// addresses: wrong API keys are refused with 429 once the failure budget
// is spent, a right key from there too; purchases with a new forged
// private chain each, sent directly or through the proxy, share one
// address's budget; reads are limited the same way; the probes never are.
// Kafka holds exactly the purchases answered 202.
func TestAbuseIsLimitedPerAddress(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	shop.StartServer("", map[string]string{"API_KEYS": serviceKey,
		"AUTH_FAILURE_LIMIT": "0.001", "AUTH_FAILURE_BURST": "5",
		"REQUEST_RATE_LIMIT": "0.001", "REQUEST_RATE_BURST": "20",
		"FORWARDED_FOR_HOPS": "1", "FORWARDED_FOR_TRUSTED": "127.0.0.2"})
	proxy := trustedProxy(t, shop.ServerURL, "127.0.0.2")
	key := map[string]string{"Authorization": "Bearer " + serviceKey}
	withKey := func(i int) map[string]string { return key }
	wrongKey := func(int) map[string]string {
		return map[string]string{"Authorization": "Bearer wrong-key-000000000000"}
	}
	forged := func(i int) map[string]string {
		return map[string]string{"Authorization": "Bearer " + serviceKey, "X-Forwarded-For": forgedChain(i)}
	}
	body := strings.ReplaceAll(joe, `"joe"`, `"abusejoe"`)

	got := statuses(t, clientAt("127.0.0.3"), 30, "POST", shop.ServerURL+"/buy", body, wrongKey)
	if got[http.StatusUnauthorized] != 5 || got[http.StatusTooManyRequests] != 25 {
		t.Errorf("30 wrong keys from one address, failure budget 5: got %v, want 5 × 401 and 25 × 429", got)
	}
	if got := statuses(t, clientAt("127.0.0.3"), 1, "POST", shop.ServerURL+"/buy", body, withKey); got[http.StatusTooManyRequests] != 1 {
		t.Errorf("the right key from that address: got %v, want 429 (refused before authentication)", got)
	}

	direct := statuses(t, clientAt("127.0.0.4"), 60, "POST", shop.ServerURL+"/buy", body, forged)
	if direct[http.StatusAccepted] != 20 || direct[http.StatusTooManyRequests] != 40 {
		t.Errorf("60 purchases, each with a new forged chain, sent directly: got %v, want 20 × 202 and 40 × 429", direct)
	}
	proxied := statuses(t, clientAt("127.0.0.5"), 60, "POST", proxy+"/buy", body, forged)
	if proxied[http.StatusAccepted] != 20 || proxied[http.StatusTooManyRequests] != 40 {
		t.Errorf("60 purchases, each with a new forged chain, through the trusted proxy: got %v, want 20 × 202 and 40 × 429", proxied)
	}
	other := statuses(t, clientAt("127.0.0.6"), 3, "POST", proxy+"/buy", body, withKey)
	if other[http.StatusAccepted] != 3 {
		t.Errorf("another client through the same proxy: got %v, want 3 × 202 (its own budget, not the proxy's)", other)
	}

	reader := clientAt("127.0.0.7")
	reads := statuses(t, reader, 15, "GET", shop.ServerURL+"/getAllUserBuys/abusejoe", "", withKey)
	pages := statuses(t, reader, 15, "GET", shop.ServerURL+"/", "", func(int) map[string]string { return nil })
	if reads[http.StatusTooManyRequests]+pages[http.StatusTooManyRequests] != 10 || reads[http.StatusTooManyRequests] != 0 {
		t.Errorf("15 reads then 15 page loads from one address, budget 20: got %v and %v, want the last 10 page loads 429", reads, pages)
	}
	for _, probe := range []string{"/healthz", "/readyz"} {
		if got := statuses(t, reader, 30, "GET", shop.ServerURL+probe, "", func(int) map[string]string { return nil }); got[http.StatusTooManyRequests] != 0 {
			t.Errorf("%s from an address with no budget left: got %v, want no 429 (probes are not limited)", probe, got)
		}
	}
	if n := shop.TopicRecords(t); n != 43 {
		t.Errorf("records in Kafka: got %d, want 43 (20 direct, 20 proxied, 3 from the other client)", n)
	}
}

// trustedProxy is a reverse proxy in front of target that, like Knative's
// queue-proxy and activator (httputil.ReverseProxy with a Director),
// appends the address it was called from to X-Forwarded-For and calls
// target from source. It answers at the URL it returns.
func trustedProxy(t *testing.T, target, source string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := httputil.NewSingleHostReverseProxy(u)
	p.Transport = clientAt(source).Transport
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.URL
}
