package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/apitest/authtest"
	"github.com/scalable-shop/scalable-shop/test/harness"
)

// refreshInterval is cm-server's default AUTH_JWKS_REFRESH_INTERVAL
// (docs/configuration.md).
const refreshInterval = 10 * time.Second

// forgedFlood is how many forged tokens TestForgedKidsDoNotHammerTheIssuer
// sends, and how many at once.
const forgedFlood, forgedWorkers = 600, 24

// TestForgedKidsDoNotHammerTheIssuer floods the real cm-server, started with
// the default JWKS refresh interval, with tokens signed by unknown keys,
// each naming a new key id, from many connections at once: every one gets
// 401 for its signature, a shopper's valid token keeps buying, and the
// issuer serves at most one JWKS fetch per interval since the first.
func TestForgedKidsDoNotHammerTheIssuer(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	iss := authtest.NewIssuer(t, "scalable-shop")
	shop := harness.NewShop(t, brokers, "") // no cm-api: purchases only reach Kafka
	shop.StartServer("", shopperEnv(iss))
	body := strings.ReplaceAll(joe, `"joe"`, `"floodjoe"`)
	forged := make([]string, forgedFlood)
	for i := range forged {
		forged[i] = iss.Forged(t, "floodjoe", fmt.Sprintf("forged-%d", i))
	}

	start := time.Now() // before the first fetch
	buyOK(t, shop, body, bearer(iss.Token(t, "floodjoe", nil)))
	refused := make([]string, forgedFlood)
	var wg sync.WaitGroup
	for w := range forgedWorkers {
		wg.Go(func() {
			for i := w; i < forgedFlood; i += forgedWorkers {
				refused[i] = refusal(shop, body, forged[i])
			}
		})
	}
	buyOK(t, shop, body, bearer(iss.Token(t, "floodjoe", nil))) // during the flood
	wg.Wait()
	elapsed := time.Since(start)

	for i, problem := range refused {
		if problem != "" {
			t.Errorf("forged token %d: %s", i, problem)
		}
	}
	fetches, limit := iss.KeyFetches(), 1+int(elapsed/refreshInterval)
	t.Logf("%d forged tokens in %v: %d JWKS fetches", forgedFlood, elapsed.Round(time.Millisecond), fetches)
	if fetches > limit {
		t.Errorf("JWKS fetches: got %d, want at most %d (1 + %v / %v)", fetches, limit, elapsed.Round(time.Millisecond), refreshInterval)
	}
	if n := shop.TopicRecords(t); n != 2 {
		t.Errorf("records in Kafka: got %d, want 2 (the valid purchases only)", n)
	}
}

// refusal buys with a forged token and says what is wrong with the answer,
// or "" for the 401 naming the bad signature.
func refusal(shop *harness.Shop, body, token string) string {
	status, resp, err := shop.Buy(body, bearer(token))
	if err != nil || status != http.StatusUnauthorized || !strings.Contains(resp.Message, "bad signature") {
		return fmt.Sprintf("got %d %q %v, want 401 naming the bad signature", status, resp.Message, err)
	}
	return ""
}
