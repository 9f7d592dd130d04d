package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/apitest/authtest"
	"github.com/scalable-shop/scalable-shop/test/harness"
)

// serviceKey is the API key of the tests' service client.
const serviceKey = "e2e-service-key-0123456789"

// shopperEnv turns on shoppers' tokens from iss, an API key, and support
// staff marked by the group "support". The in-test issuer's usernames are
// its preferred_username claims (with a real provider, pick a claim users
// cannot change: docs/security.md).
func shopperEnv(iss *authtest.Issuer) map[string]string {
	return map[string]string{"AUTH_ISSUER_URL": iss.URL, "AUTH_AUDIENCE": iss.Audience, "AUTH_USERNAME_CLAIM": "preferred_username", "API_KEYS": serviceKey,
		"AUTH_ADMIN_CLAIM": "groups", "AUTH_ADMIN_VALUE": "support"}
}

func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// listStatus asks for username's purchases with token and returns the status.
func listStatus(t *testing.T, shop *harness.Shop, username, token string) int {
	t.Helper()
	a := send("GET", shop.ServerURL+"/getAllUserBuys/"+username, "", bearer(token), 10*time.Second)
	if a.err != nil {
		t.Fatal(a.err)
	}
	return a.status
}

// TestShoppersSeeOnlyTheirOwn runs the real binaries with shoppers' tokens
// from an in-test issuer: a shopper buys and reads only as themselves,
// support staff read anyone's, an API key acts for anyone, and a refused
// request sends nothing to Kafka.
func TestShoppersSeeOnlyTheirOwn(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	iss := authtest.NewIssuer(t, "scalable-shop")
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	shop.StartAPI(true, nil)
	shop.StartServer("", shopperEnv(iss))
	body := strings.ReplaceAll(joe, `"joe"`, `"tokenjoe"`)

	joeID := buyOK(t, shop, body, bearer(iss.Token(t, "tokenjoe", nil)))
	keyID := buyOK(t, shop, body, bearer(serviceKey))
	for name, token := range map[string]string{"ann's token": iss.Token(t, "tokenann", nil),
		"a staff token": iss.Token(t, "tokenann", authtest.Claims{"groups": []string{"support"}})} {
		if status, _, err := shop.Buy(body, bearer(token)); err != nil || status != http.StatusForbidden {
			t.Errorf("buy as tokenjoe with %s: got %d %v, want 403", name, status, err)
		}
	}
	shop.Authorization = "Bearer " + iss.Token(t, "tokenjoe", nil)
	waitForPurchases(t, shop, "tokenjoe", joeID, keyID)

	for _, c := range []struct {
		name, token string
		want        int
	}{
		{"own_token", iss.Token(t, "tokenjoe", nil), http.StatusOK},
		{"es256_token", iss.ES256(t, "tokenjoe", nil), http.StatusOK},
		{"staff_token", iss.Token(t, "tokenann", authtest.Claims{"groups": []string{"staff", "support"}}), http.StatusOK},
		{"api_key", serviceKey, http.StatusOK},
		{"other_users_token", iss.Token(t, "tokenann", nil), http.StatusForbidden},
		{"expired_token", iss.Expired(t, "tokenjoe"), http.StatusUnauthorized},
	} {
		if got := listStatus(t, shop, "tokenjoe", c.token); got != c.want {
			t.Errorf("list tokenjoe with %s: got %d, want %d", c.name, got, c.want)
		}
	}
	if n := shop.TopicRecords(t); n != 2 {
		t.Errorf("records in Kafka: got %d, want 2 (the refused purchases sent nothing)", n)
	}
}

// buyEventually buys with token until cm-server answers want; the answers
// before it must be refusals, which send nothing.
func buyEventually(t *testing.T, shop *harness.Shop, body, token string, want int) {
	t.Helper()
	harness.Eventually(t, 10*time.Second, func() string {
		status, resp, err := shop.Buy(body, bearer(token))
		if err != nil || status != want {
			return fmt.Sprintf("got %d %q %v, want %d", status, resp.Message, err, want)
		}
		return ""
	})
}

// TestShopperKeysRotateAndFailClosed: after the issuer rotates its key, new
// tokens work (once the JWKS refresh interval since the last fetch has
// passed) and old ones do not; when the issuer is down, tokens of a cached
// key still work and a token that needs a fetch gets 503, never in.
func TestShopperKeysRotateAndFailClosed(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	iss := authtest.NewIssuer(t, "scalable-shop")
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	env := shopperEnv(iss)
	env["AUTH_JWKS_REFRESH_INTERVAL"] = "500ms"
	shop.StartServer("", env)
	body := strings.ReplaceAll(joe, `"joe"`, `"rotjoe"`)

	old := iss.Token(t, "rotjoe", nil)
	buyOK(t, shop, body, bearer(old))
	iss.Rotate(t, "rsa-2")
	current := iss.Token(t, "rotjoe", nil)
	buyEventually(t, shop, body, current, http.StatusAccepted)
	// go-oidc caches the new set just after the request that fetched it, so
	// wait (reading, which changes nothing) until the withdrawn key is gone.
	harness.Eventually(t, 10*time.Second, func() string {
		if got := listStatus(t, shop, "rotjoe", old); got != http.StatusUnauthorized {
			return "the withdrawn key still reads: " + http.StatusText(got)
		}
		return ""
	})
	if status, resp, _ := shop.Buy(body, bearer(old)); status != http.StatusUnauthorized || !strings.Contains(resp.Message, "bad signature") {
		t.Errorf("buy with the withdrawn key: got %d %q, want 401 naming the bad signature", status, resp.Message)
	}

	iss.Rotate(t, "rsa-3") // never served: the issuer goes down first
	unknown := iss.Token(t, "rotjoe", nil)
	iss.Stop()
	buyOK(t, shop, body, bearer(current))
	// Until the interval has passed, the issuer's last answer (the keys) holds.
	buyEventually(t, shop, body, unknown, http.StatusServiceUnavailable)
	for name, token := range map[string]string{"an unknown key": unknown, "a forged signature": iss.Foreign(t, "rotjoe")} {
		if status, _, err := shop.Buy(body, bearer(token)); err != nil || status != http.StatusServiceUnavailable {
			t.Errorf("issuer down, %s: got %d %v, want 503", name, status, err)
		}
	}
	if n := shop.TopicRecords(t); n != 3 {
		t.Errorf("records in Kafka: got %d, want 3", n)
	}
}

// sourceSubject is the subject of the KafkaSource's OIDC service account
// (knative.dev/eventing pkg/auth/serviceaccount.go names it
// <source>-oidc-<group>-<kind>).
const sourceSubject = "system:serviceaccount:shop:cm-api-purchases-oidc-sources.knative.dev-kafkasource"

// TestOnlyTheSourceSendsEvents: with EVENTS_AUDIENCE, cm-api stores what the
// KafkaSource delivers with its sender identity, and refuses a pod that
// POSTs a purchase straight to it, with no token or another identity.
func TestOnlyTheSourceSendsEvents(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	iss := authtest.NewIssuer(t, "cm-api.shop.svc.cluster.local")
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	shop.StartAPI(false, map[string]string{"EVENTS_AUDIENCE": iss.Audience, "EVENTS_ISSUER_URL": iss.URL,
		"EVENTS_ALLOWED_SUBJECTS": sourceSubject})
	shop.SourceToken = func() string { return iss.Token(t, "", authtest.Claims{"sub": sourceSubject}) }
	source := shop.StartKafkaSource(knativeScale)
	shop.StartServer("", nil)

	id := buyOK(t, shop, joe, nil)
	waitForPurchases(t, shop, "joe", id)

	event := buyBody("", "")
	for _, c := range []struct {
		name, token string
		want        int
	}{
		{"no_token", "", http.StatusUnauthorized},
		{"wrong_audience", iss.Token(t, "", authtest.Claims{"sub": sourceSubject, "aud": "cm-server"}), http.StatusUnauthorized},
		{"expired", iss.Token(t, "", authtest.Claims{"sub": sourceSubject, "exp": 1}), http.StatusUnauthorized},
		{"alg_none", iss.None(t, ""), http.StatusUnauthorized},
		{"another_pod", iss.Token(t, "", authtest.Claims{"sub": "system:serviceaccount:shop:default"}), http.StatusForbidden},
	} {
		header := ceBinary("direct-"+c.name, eventType)
		if c.token != "" {
			header["Authorization"] = "Bearer " + c.token
		}
		a := send("POST", shop.APIURL+"/", event, header, 10*time.Second)
		if _, bad := a.jsonError(); a.err != nil || a.status != c.want || bad != "" {
			t.Errorf("POST / %s: got %d %s %v, want %d JSON error", c.name, a.status, a.body, a.err, c.want)
		}
	}
	if n := shop.StoredCount(t); n != 1 {
		t.Errorf("stored purchases: got %d, want 1 (only the source's)", n)
	}
	if n := source.Retried.Load(); n != 0 {
		t.Errorf("source retries: got %d, want 0", n)
	}
}

// serverSubject is cm-server's service account, as the chart names it.
const serverSubject = "system:serviceaccount:shop:cm-server"

// TestOnlyCMServerReadsCMAPI: with READS_AUDIENCE, the shop's own reads go
// through (cm-server sends the token in CM_API_TOKEN_FILE), while a pod
// that asks cm-api directly, with no token or another identity, is refused.
func TestOnlyCMServerReadsCMAPI(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	iss := authtest.NewIssuer(t, "cm-api")
	tokenFile := filepath.Join(t.TempDir(), "token")
	serverToken := iss.Token(t, "", authtest.Claims{"sub": serverSubject})
	if err := os.WriteFile(tokenFile, []byte(serverToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	shop.StartAPI(true, map[string]string{"READS_AUDIENCE": iss.Audience, "READS_ISSUER_URL": iss.URL,
		"READS_ALLOWED_SUBJECTS": serverSubject})
	shop.StartServer("", map[string]string{"CM_API_TOKEN_FILE": tokenFile})

	id := buyOK(t, shop, joe, nil)
	waitForPurchases(t, shop, "joe", id)

	for _, c := range []struct {
		name, token string
		want        int
	}{
		{"no_token", "", http.StatusUnauthorized},
		{"expired", iss.Token(t, "", authtest.Claims{"sub": serverSubject, "exp": 1}), http.StatusUnauthorized},
		{"foreign_key", iss.Foreign(t, ""), http.StatusUnauthorized},
		{"another_pod", iss.Token(t, "", authtest.Claims{"sub": "system:serviceaccount:shop:default"}), http.StatusForbidden},
		{"cm_server", serverToken, http.StatusOK},
	} {
		header := map[string]string{}
		if c.token != "" {
			header["Authorization"] = "Bearer " + c.token
		}
		a := send("GET", shop.APIURL+"/buyList/joe", "", header, 10*time.Second)
		_, bad := a.jsonError()
		switch {
		case a.err != nil || a.status != c.want:
			t.Errorf("GET /buyList/joe %s: got %d %s %v, want %d", c.name, a.status, a.body, a.err, c.want)
		case c.want == http.StatusOK && !strings.Contains(string(a.body), id):
			t.Errorf("GET /buyList/joe %s: got %s, want purchase %s", c.name, a.body, id)
		case c.want != http.StatusOK && (bad != "" || strings.Contains(string(a.body), id)):
			t.Errorf("GET /buyList/joe %s: got %s, want a JSON error without the purchase", c.name, a.body)
		}
	}
}
