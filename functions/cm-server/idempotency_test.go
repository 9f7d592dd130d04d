package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
	"github.com/scalable-shop/scalable-shop/functions/internal/telemetry"
)

// storingAPI stands in for cm-api's GET /purchaseByKey: what snd sent is
// what is stored.
func storingAPI(t *testing.T, snd *fakeSender) string {
	t.Helper()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keyID, ok := strings.CutPrefix(r.URL.Path, "/purchaseByKey/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		for _, e := range snd.sent() {
			if e.Extensions()[purchase.KeyIDExtension] == keyID {
				p, _ := purchase.FromEvent(e, time.Time{})
				server.Encode(w, http.StatusOK, map[string]any{"status": "Ok!", "purchase": p})
				return
			}
		}
		server.Encode(w, http.StatusNotFound, server.ErrorBody{Status: "Error", Message: "no purchase with this key"})
	}))
	t.Cleanup(api.Close)
	return api.URL
}

// TestBuyIdempotencyKeyReuse follows the IETF Idempotency-Key draft: a
// retry with the same key and purchase, once the first is stored, is
// answered as the first was and sends nothing; the same key with another
// purchase is 422 and sends nothing.
func TestBuyIdempotencyKeyReuse(t *testing.T) {
	t.Parallel()
	snd := &fakeSender{}
	h := newTestServer(t, snd, storingAPI(t, snd), time.Second)
	buy := func(body string) *httptest.ResponseRecorder {
		return apitest.Do(h, "POST", "/buy", body, map[string]string{"Content-Type": "application/json", "Idempotency-Key": "k-1"})
	}
	first := buy(joe)
	if first.Code != http.StatusAccepted {
		t.Fatalf("first: got %d %s, want 202", first.Code, first.Body)
	}
	id := decodeJSON[buyResponse](t, first).ID
	noTime := `{"username":"joe","userid":"005","price":"1195.30"}`
	for _, body := range []string{joe, noTime} {
		again := buy(body)
		if again.Code != http.StatusAccepted || decodeJSON[buyResponse](t, again).ID != id {
			t.Errorf("retry %s: got %d %s, want 202 with id %s", body, again.Code, again.Body, id)
		}
	}
	other := buy(strings.Replace(joe, "1195.30", "5.00", 1))
	if e := decodeJSON[server.ErrorBody](t, other); other.Code != http.StatusUnprocessableEntity || e.Errors["Idempotency-Key"] == "" {
		t.Errorf("same key, other price: got %d %s, want 422 naming Idempotency-Key", other.Code, other.Body)
	}
	if n := len(snd.sent()); n != 1 {
		t.Errorf("events sent: got %d, want 1 (retries and the reuse send nothing)", n)
	}
}

// gatedSender holds every Send until open is closed.
type gatedSender struct {
	fakeSender
	entered chan struct{}
	open    chan struct{}
}

func (g *gatedSender) Send(ctx context.Context, e event.Event) error {
	g.entered <- struct{}{}
	<-g.open
	return g.fakeSender.Send(ctx, e)
}

// TestBuyIdempotencyKeyInProgressIs409: while a request with a key is being
// handled, another with the same key is told 409 (retry later), not sent.
func TestBuyIdempotencyKeyInProgressIs409(t *testing.T) {
	t.Parallel()
	snd := &gatedSender{entered: make(chan struct{}, 2), open: make(chan struct{})}
	h := newTestServer(t, snd, "http://127.0.0.1:1", 100*time.Millisecond)
	header := map[string]string{"Content-Type": "application/json", "Idempotency-Key": "k-busy"}
	var wg sync.WaitGroup
	var first *httptest.ResponseRecorder
	wg.Go(func() { first = apitest.Do(h, "POST", "/buy", joe, header) })
	<-snd.entered
	second := apitest.Do(h, "POST", "/buy", joe, header)
	close(snd.open)
	wg.Wait()
	if first.Code != http.StatusAccepted {
		t.Errorf("first: got %d %s, want 202", first.Code, first.Body)
	}
	var e server.ErrorBody
	if err := json.Unmarshal(second.Body.Bytes(), &e); err != nil || second.Code != http.StatusConflict || second.Header().Get("Retry-After") == "" {
		t.Errorf("second while the first is in progress: got %d %s, want 409 with Retry-After", second.Code, second.Body)
	}
	if n := len(snd.sent()); n != 1 {
		t.Errorf("events sent: got %d, want 1", n)
	}
}

// TestBuyIdempotencyKeyRetryOfAnOlderPurchase: a purchase stored before ids
// included the price has its key's id as its own id; a retry of it is the
// same purchase, answered with that id, and nothing is sent.
func TestBuyIdempotencyKeyRetryOfAnOlderPurchase(t *testing.T) {
	t.Parallel()
	p, err := purchase.Parse("x", []byte(joe), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	keyID, _ := keyIDs("k-old", p)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/purchaseByKey/"+keyID {
			server.Encode(w, http.StatusNotFound, server.ErrorBody{Status: "Error", Message: "no purchase with this key"})
			return
		}
		p.ID = keyID
		server.Encode(w, http.StatusOK, map[string]any{"status": "Ok!", "purchase": p})
	}))
	t.Cleanup(api.Close)
	snd := &fakeSender{}
	h := newTestServer(t, snd, api.URL, time.Second)
	rec := apitest.Do(h, "POST", "/buy", joe, map[string]string{"Content-Type": "application/json", "Idempotency-Key": "k-old"})
	if rec.Code != http.StatusAccepted || decodeJSON[buyResponse](t, rec).ID != keyID {
		t.Errorf("retry: got %d %s, want 202 with the stored id %s", rec.Code, rec.Body, keyID)
	}
	if n := len(snd.sent()); n != 0 {
		t.Errorf("events sent: got %d, want 0", n)
	}
}

// TestKeyLookupsAreCounted: each look-up's outcome shows in
// shop_key_lookups_total, so an operator sees purchases sent unchecked.
func TestKeyLookupsAreCounted(t *testing.T) {
	t.Parallel()
	snd := &fakeSender{}
	h, hm := newMeteredServer(t, snd, storingAPI(t, snd))
	down, downm := newMeteredServer(t, &fakeSender{}, "http://127.0.0.1:1")
	header := map[string]string{"Content-Type": "application/json", "Idempotency-Key": "k-count"}
	apitest.Do(h, "POST", "/buy", joe, header)    // not found, sent
	apitest.Do(h, "POST", "/buy", joe, header)    // found
	apitest.Do(down, "POST", "/buy", joe, header) // cm-api unreachable
	for _, c := range []struct {
		m    *telemetry.Metrics
		want []string
	}{
		{hm, []string{`shop_key_lookups_total{function="cm-server",result="not_found"} 1`, `shop_key_lookups_total{function="cm-server",result="found"} 1`}},
		{downm, []string{`shop_key_lookups_total{function="cm-server",result="failed"} 1`}},
	} {
		body := apitest.Do(c.m.Handler(), "GET", "/metrics", "", nil).Body.String()
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("metrics: want %s", w)
			}
		}
	}
}
