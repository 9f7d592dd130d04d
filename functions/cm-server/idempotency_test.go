package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
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

// claimsAPI stands in for cm-api's PUT /claims/{key}: the first claim of
// a key holds it, and a purchase is stored once snd sent it.
func claimsAPI(t *testing.T, snd *fakeSender) string {
	t.Helper()
	var mu sync.Mutex
	claims := map[string]claimBody{}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := strings.CutPrefix(r.URL.Path, "/claims/")
		var c claimBody
		if !ok || r.Method != http.MethodPut || json.NewDecoder(r.Body).Decode(&c) != nil {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		held, found := claims[key]
		if !found {
			claims[key] = c
		}
		mu.Unlock()
		switch {
		case !found:
			server.Encode(w, http.StatusCreated, map[string]any{"status": "Ok!", "purchase_id": c.PurchaseID, "stored": false})
		case held != c:
			server.Encode(w, http.StatusConflict, server.ErrorBody{Status: "Error", Message: "this key is claimed by a different purchase"})
		default:
			stored := slices.ContainsFunc(snd.sent(), func(e event.Event) bool { return e.ID() == c.PurchaseID })
			server.Encode(w, http.StatusOK, map[string]any{"status": "Ok!", "purchase_id": c.PurchaseID, "stored": stored})
		}
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
	h := newTestServer(t, snd, claimsAPI(t, snd), time.Second)
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
	h := newTestServer(t, snd, claimsAPI(t, &snd.fakeSender), time.Second)
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

// TestBuyCloudEventResentWithOtherContent: a CloudEvent is keyed by its
// source and id: resent as it was, it is the same purchase (202, the same
// id, not sent again once stored); resent with another price it is 422
// naming the id and nothing is sent, as cm-api would dead-letter it.
func TestBuyCloudEventResentWithOtherContent(t *testing.T) {
	t.Parallel()
	snd := &fakeSender{}
	h := newTestServer(t, snd, claimsAPI(t, snd), time.Second)
	ce := func(source, price string) *httptest.ResponseRecorder {
		return apitest.Do(h, "POST", "/buy", `{"username":"joe","userid":"005","price":"`+price+`"}`,
			map[string]string{"Content-Type": "application/json", "Ce-Specversion": "1.0", "Ce-Id": "same-1",
				"Ce-Source": source, "Ce-Type": purchase.EventType})
	}
	first := ce("/client/a", "3.00")
	if first.Code != http.StatusAccepted {
		t.Fatalf("first: got %d %s, want 202", first.Code, first.Body)
	}
	id := decodeJSON[buyResponse](t, first).ID
	if again := ce("/client/a", "3.00"); again.Code != http.StatusAccepted || decodeJSON[buyResponse](t, again).ID != id {
		t.Errorf("resent as it was: got %d %s, want 202 with id %s", again.Code, again.Body, id)
	}
	other := ce("/client/a", "4.00")
	if e := decodeJSON[server.ErrorBody](t, other); other.Code != http.StatusUnprocessableEntity || e.Errors["id"] == "" {
		t.Errorf("resent with another price: got %d %s, want 422 naming id", other.Code, other.Body)
	}
	if elsewhere := ce("/client/b", "4.00"); elsewhere.Code != http.StatusAccepted {
		t.Errorf("the same id from another source: got %d %s, want 202", elsewhere.Code, elsewhere.Body)
	}
	if n := len(snd.sent()); n != 2 {
		t.Errorf("events sent: got %d, want 2 (the first and the other source's)", n)
	}
}

// TestBuyClaimedNotStoredIsSentAgain: a key claimed by the same purchase
// that is not stored yet (the first attempt's send failed, or is under way
// on another replica) is sent again under the same purchase id, which
// storage de-duplicates.
func TestBuyClaimedNotStoredIsSentAgain(t *testing.T) {
	t.Parallel()
	snd := &fakeSender{}
	api := claimsAPI(t, &fakeSender{}) // sees nothing stored
	h := newTestServer(t, snd, api, time.Second)
	header := map[string]string{"Content-Type": "application/json", "Idempotency-Key": "k-again"}
	a, b := apitest.Do(h, "POST", "/buy", joe, header), apitest.Do(h, "POST", "/buy", joe, header)
	if a.Code != http.StatusAccepted || b.Code != http.StatusAccepted || decodeJSON[buyResponse](t, a).ID != decodeJSON[buyResponse](t, b).ID {
		t.Fatalf("two attempts: got %d %s and %d %s, want 202 twice with one id", a.Code, a.Body, b.Code, b.Body)
	}
	if sent := snd.sent(); len(sent) != 2 || sent[0].ID() != sent[1].ID() {
		t.Errorf("events sent: got %d, want 2 with one id", len(sent))
	}
}

// TestBuyKeyedWithoutCMAPI: a purchase with a key is not sent unchecked
// when cm-api cannot claim its key (that would let two replicas acknowledge
// two purchases for one key): 503 with Retry-After and nothing sent; 502
// when cm-api refuses cm-server. A purchase without a key does not need
// cm-api.
func TestBuyKeyedWithoutCMAPI(t *testing.T) {
	t.Parallel()
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusForbidden)
	}))
	t.Cleanup(refusing.Close)
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(unavailable.Close)
	keyed := map[string]string{"Content-Type": "application/json", "Idempotency-Key": "k-down"}
	event := map[string]string{"Content-Type": "application/json", "Ce-Specversion": "1.0", "Ce-Id": "e-1",
		"Ce-Source": "/client/a", "Ce-Type": purchase.EventType}
	tests := []struct {
		name, api string
		header    map[string]string
		want      int
	}{
		{"503_keyed_unreachable", "http://127.0.0.1:1", keyed, http.StatusServiceUnavailable},
		{"503_event_unreachable", "http://127.0.0.1:1", event, http.StatusServiceUnavailable},
		{"503_keyed_store_unavailable", unavailable.URL, keyed, http.StatusServiceUnavailable},
		{"502_keyed_refused", refusing.URL, keyed, http.StatusBadGateway},
		{"202_unkeyed_unreachable", "http://127.0.0.1:1", map[string]string{"Content-Type": "application/json"}, http.StatusAccepted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			snd := &fakeSender{}
			rec := apitest.Do(newTestServer(t, snd, tt.api, time.Second), "POST", "/buy", joe, tt.header)
			if rec.Code != tt.want {
				t.Fatalf("got %d %s, want %d", rec.Code, rec.Body, tt.want)
			}
			if tt.want == http.StatusServiceUnavailable && rec.Header().Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After")
			}
			if want := map[bool]int{true: 1}[tt.want == http.StatusAccepted]; len(snd.sent()) != want {
				t.Errorf("events sent: got %d, want %d", len(snd.sent()), want)
			}
		})
	}
}

// TestKeyClaimsAreCounted: each claim's outcome shows in
// shop_key_claims_total, so an operator sees reused keys and failed claims.
func TestKeyClaimsAreCounted(t *testing.T) {
	t.Parallel()
	snd := &fakeSender{}
	h, hm := newMeteredServer(t, snd, claimsAPI(t, snd))
	down, downm := newMeteredServer(t, &fakeSender{}, "http://127.0.0.1:1")
	header := map[string]string{"Content-Type": "application/json", "Idempotency-Key": "k-count"}
	apitest.Do(h, "POST", "/buy", joe, header)                                        // new, sent
	apitest.Do(h, "POST", "/buy", joe, header)                                        // stored
	apitest.Do(h, "POST", "/buy", strings.Replace(joe, "1195.30", "5.00", 1), header) // other
	apitest.Do(down, "POST", "/buy", joe, header)                                     // cm-api unreachable
	for _, c := range []struct {
		m    *telemetry.Metrics
		want []string
	}{
		{hm, []string{`shop_key_claims_total{function="cm-server",result="new"} 1`, `shop_key_claims_total{function="cm-server",result="stored"} 1`,
			`shop_key_claims_total{function="cm-server",result="other"} 1`}},
		{downm, []string{`shop_key_claims_total{function="cm-server",result="failed"} 1`}},
	} {
		body := apitest.Do(c.m.Handler(), "GET", "/metrics", "", nil).Body.String()
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("metrics: want %s", w)
			}
		}
	}
}
