package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/test/harness"
)

// TestOperationalEndpointsStayOffThePublicPort runs the shop as processes
// (Kafka mode) and looks at each function from both sides: through its
// public port, which the Knative route exposes, /metrics is a 404 and
// /readyz says only "ready"; its metrics port serves the counts and the
// detailed readiness, and none of the API.
func TestOperationalEndpointsStayOffThePublicPort(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	shop.StartAPI(true, nil)
	shop.StartServer("", nil)
	waitForPurchases(t, shop, "joe", buyOK(t, shop, joe, nil))

	for _, fn := range []struct {
		name, public, metrics, counted string
	}{
		{"cm-server", shop.ServerURL, shop.ServerMetrics, `shop_events_sent_total{function="cm-server",result="acked"} 1`},
		{"cm-api", shop.APIURL, shop.APIMetrics, `shop_events_total{function="cm-api",result="stored"} 1`},
	} {
		if a := send("GET", fn.public+"/metrics", "", nil, 5*time.Second); a.status != http.StatusNotFound ||
			strings.Contains(string(a.body), "shop_") || strings.Contains(string(a.body), "go_") {
			t.Errorf("%s public GET /metrics: got %d %.200q, want 404 and no metric", fn.name, a.status, a.body)
		}
		if a := send("GET", fn.public+"/readyz", "", nil, 5*time.Second); a.status != http.StatusOK ||
			strings.TrimSpace(string(a.body)) != `{"status":"ready"}` {
			t.Errorf("%s public GET /readyz: got %d %s, want 200 {\"status\":\"ready\"} only", fn.name, a.status, a.body)
		}
		if got := scrape(t, fn.metrics); !strings.Contains(got, fn.counted) {
			t.Errorf("%s metrics port /metrics: want %s", fn.name, fn.counted)
		}
		if a := send("GET", fn.metrics+"/readyz", "", nil, 5*time.Second); a.status != http.StatusOK ||
			!strings.Contains(string(a.body), `"checks":{`) || !strings.Contains(string(a.body), `"version":`) {
			t.Errorf("%s metrics port /readyz: got %d %s, want 200 with checks and version", fn.name, a.status, a.body)
		}
		for _, path := range []string{"/healthz", "/openapi.yaml", "/getAllUserBuys/joe", "/buyList/joe", "/debug/pprof/"} {
			if a := send("GET", fn.metrics+path, "", nil, 5*time.Second); a.status != http.StatusNotFound {
				t.Errorf("%s metrics port GET %s: got %d, want 404 (only /metrics and /readyz live there)", fn.name, path, a.status)
			}
		}
	}
}

// TestStoreErrorNamesNoHostInPublic: cm-api whose store does not answer
// stays in service (its public /readyz, which Knative probes, says ready and
// nothing more; POST / answers 503), while its metrics port says not ready
// and shows the driver's error, which names the store's address, as does
// its log, once.
func TestStoreErrorNamesNoHostInPublic(t *testing.T) {
	t.Parallel()
	harness.Integration(t)
	dead := harness.FreePort(t) // nothing listens there
	port := harness.FreePort(t)
	api := harness.Start(t, "cm-api", harness.Binary(t, "cm-api"), map[string]string{"PORT": port,
		"MONGODB_URI": "mongodb://127.0.0.1:" + dead + "/", "MONGODB_TIMEOUT": "200ms", "LOG_LEVEL": "info"})
	harness.Eventually(t, 30*time.Second, func() string {
		a := send("GET", api.MetricsURL+"/readyz", "", nil, 5*time.Second)
		var body struct{ Checks, Errors map[string]string }
		_ = json.Unmarshal(a.body, &body)
		if a.status != http.StatusServiceUnavailable || body.Checks["mongodb"] != "unavailable" || !strings.Contains(body.Errors["mongodb"], dead) {
			return fmt.Sprintf("metrics port /readyz: got %d %s, want 503 with mongodb unavailable and its error naming port %s", a.status, a.body, dead)
		}
		return ""
	})
	a := send("GET", "http://127.0.0.1:"+port+"/readyz", "", nil, 5*time.Second)
	if a.status != http.StatusOK || strings.TrimSpace(string(a.body)) != `{"status":"ready"}` {
		t.Errorf("public /readyz: got %d %s, want 200 {\"status\":\"ready\"} only", a.status, a.body)
	}
	if a := send("POST", "http://127.0.0.1:"+port+"/", joe, ceBinary("p-1", eventType), 5*time.Second); a.status != http.StatusServiceUnavailable ||
		strings.Contains(string(a.body), dead) {
		t.Errorf("POST /: got %d %s %v, want 503 naming no host", a.status, a.body, a.err)
	}
	n := 0
	for line := range strings.Lines(api.Output()) {
		if strings.Contains(line, `"msg":"dependency unavailable"`) && strings.Contains(line, `"dependency":"mongodb"`) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("log: got %d lines saying mongodb is unavailable, want 1 however often it is probed", n)
	}
}
