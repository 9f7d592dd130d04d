package main

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
)

// attemptSender is a fakeSender that also records the events of failed
// sends: a sink or broker may write them after the send gave up.
type attemptSender struct {
	*fakeSender
	mu       sync.Mutex
	attempts []event.Event
}

func (a *attemptSender) Send(ctx context.Context, e event.Event) error {
	a.mu.Lock()
	a.attempts = append(a.attempts, e)
	a.mu.Unlock()
	return a.fakeSender.Send(ctx, e)
}

func (a *attemptSender) fail(err error) {
	a.fakeSender.mu.Lock()
	defer a.fakeSender.mu.Unlock()
	a.fakeSender.err = err
}

// TestBuy503SaysHowToRetryTheSamePurchase: a 503 for a purchase sent
// without a key hands the client a key; a retry with it is the same
// purchase (the same id as the attempt that may still be stored), so no
// client buys twice by following the answer.
func TestBuy503SaysHowToRetryTheSamePurchase(t *testing.T) {
	t.Parallel()
	snd := &attemptSender{fakeSender: &fakeSender{}}
	h := newTestServer(t, snd, claimsAPI(t, snd.fakeSender), time.Second)
	json := map[string]string{"Content-Type": "application/json"}

	snd.fail(errNotDelivered)
	first := apitest.Do(h, "POST", "/buy", joe, json)
	if first.Code != http.StatusServiceUnavailable {
		t.Fatalf("send failed: got %d %s, want 503", first.Code, first.Body)
	}
	body := decodeJSON[sendFailed](t, first)
	key := first.Header().Get("Idempotency-Key")
	if key == "" || body.IdempotencyKey != key || !strings.Contains(body.Message, "Idempotency-Key: "+key) ||
		!strings.Contains(body.Message, "may still be stored") || first.Header().Get("Retry-After") == "" {
		t.Fatalf("503: header Idempotency-Key %q, body %+v, want the key in both, the message saying to retry with it and that it may be stored",
			key, body)
	}
	if len(snd.attempts) != 1 {
		t.Fatalf("attempts: got %d, want 1", len(snd.attempts))
	}
	// No claim was needed for the first attempt: an unkeyed purchase does
	// not depend on cm-api.
	if _, ok := snd.attempts[0].Extensions()[purchase.KeyIDExtension]; ok {
		t.Errorf("first attempt carries a key id: an unkeyed purchase must not be claimed")
	}

	snd.fail(nil)
	retry := apitest.Do(h, "POST", "/buy", joe, map[string]string{"Content-Type": "application/json", "Idempotency-Key": key})
	if retry.Code != http.StatusAccepted {
		t.Fatalf("retry with the 503's key: got %d %s, want 202", retry.Code, retry.Body)
	}
	if got, want := decodeJSON[buyResponse](t, retry).ID, snd.attempts[0].ID(); got != want {
		t.Errorf("retry's purchase id: got %s, want the failed attempt's %s (the same purchase, stored once)", got, want)
	}

	// The same body again without the key is a new purchase, as before.
	again := apitest.Do(h, "POST", "/buy", joe, json)
	if id := decodeJSON[buyResponse](t, again).ID; again.Code != http.StatusAccepted || id == snd.attempts[0].ID() {
		t.Errorf("a new purchase without a key: got %d id %s, want 202 and a new id", again.Code, id)
	}
}

// TestBuy503AdvisesTheClientsOwnKeyOrEvent: with its own key the 503
// repeats it; for a CloudEvent it says to send the same event.
func TestBuy503AdvisesTheClientsOwnKeyOrEvent(t *testing.T) {
	t.Parallel()
	snd := &attemptSender{fakeSender: &fakeSender{err: errNotDelivered}}
	h := newTestServer(t, snd, claimsAPI(t, snd.fakeSender), time.Second)
	keyed := apitest.Do(h, "POST", "/buy", joe, map[string]string{"Content-Type": "application/json", "Idempotency-Key": "k-503"})
	if keyed.Code != http.StatusServiceUnavailable || keyed.Header().Get("Idempotency-Key") != "k-503" ||
		decodeJSON[sendFailed](t, keyed).IdempotencyKey != "k-503" {
		t.Errorf("keyed 503: got %d, header %q, body %s; want 503 naming k-503", keyed.Code, keyed.Header().Get("Idempotency-Key"), keyed.Body)
	}
	ce := apitest.Do(h, "POST", "/buy", joe, map[string]string{"Content-Type": "application/json",
		"Ce-Specversion": "1.0", "Ce-Id": "e-503", "Ce-Source": "/t", "Ce-Type": purchase.EventType})
	if body := decodeJSON[sendFailed](t, ce); ce.Code != http.StatusServiceUnavailable || ce.Header().Get("Idempotency-Key") != "" ||
		body.IdempotencyKey != "" || !strings.Contains(body.Message, "same event") {
		t.Errorf("CloudEvent 503: got %d, header %q, body %+v; want 503 asking for the same event, no key", ce.Code, ce.Header().Get("Idempotency-Key"), body)
	}
}
