package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
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

// fakeSender records events, or fails every send with err.
type fakeSender struct {
	mu     sync.Mutex
	events []event.Event
	err    error
}

func (f *fakeSender) Send(_ context.Context, e event.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.events = append(f.events, e)
	return nil
}
func (f *fakeSender) Ping(context.Context) error { return nil }
func (f *fakeSender) Close() error               { return nil }

func (f *fakeSender) sent() []event.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]event.Event(nil), f.events...)
}

// newTestServer returns cm-server's handler over snd and a cm-api at apiURL.
func newTestServer(t testing.TB, snd sender, apiURL string, apiTimeout time.Duration) http.Handler {
	t.Helper()
	cfg, err := loadConfig(apitest.Lookup(map[string]string{"CM_API_URL": apiURL}))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	return newServer(log, cfg, snd, newAPIClient(apiURL, apiTimeout), server.NewReadiness(log), telemetry.NewMetrics("cm-server"))
}

func decodeJSON[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("body %q is not the expected JSON: %v", rec.Body.String(), err)
	}
	return v
}

const joe = `{"username":"joe","userid":"005","price":"1195.30","timestamp":"2024-05-31T15:54:32.204Z"}`

var jsonHeader = map[string]string{"Content-Type": "application/json"}

func TestBuy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		body       string
		header     map[string]string
		sendErr    error
		wantStatus int
		wantField  string // a field named in "errors"
	}{
		{"buy_202_json", joe, jsonHeader, nil, http.StatusAccepted, ""},
		{"buy_202_no_content_type", joe, nil, nil, http.StatusAccepted, ""},
		{"buy_202_price_number", `{"username":"joe","userid":"005","price":1195.3}`, jsonHeader, nil, http.StatusAccepted, ""},
		{"buy_400_negative_price", `{"username":"joe","userid":"005","price":"-1"}`, jsonHeader, nil, http.StatusBadRequest, "price"},
		{"buy_400_empty_object", `{}`, jsonHeader, nil, http.StatusBadRequest, "username"},
		{"buy_400_operator_username", `{"username":{"$ne":""},"userid":"1","price":1}`, jsonHeader, nil, http.StatusBadRequest, "username"},
		{"buy_400_bad_idempotency_key", joe, map[string]string{"Idempotency-Key": "has space"}, nil, http.StatusBadRequest, "Idempotency-Key"},
		{"buy_413_oversized", `{"username":"` + strings.Repeat("a", maxBuyBody) + `"}`, jsonHeader, nil, http.StatusRequestEntityTooLarge, ""},
		{"buy_415_form", joe, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, nil, http.StatusUnsupportedMediaType, ""},
		{"buy_503_not_acknowledged", joe, jsonHeader, errNotDelivered, http.StatusServiceUnavailable, ""},
		{"buy_400_cloudevent_wrong_type", joe, map[string]string{"Content-Type": "application/json",
			"Ce-Specversion": "1.0", "Ce-Id": "x1", "Ce-Source": "/t", "Ce-Type": "com.example.other"}, nil, http.StatusBadRequest, "type"},
		{"buy_400_cloudevent_missing_id", joe, map[string]string{"Content-Type": "application/json",
			"Ce-Specversion": "1.0", "Ce-Source": "/t", "Ce-Type": purchase.EventType}, nil, http.StatusBadRequest, "event"},
		{"buy_400_cloudevent_missing_source", joe, map[string]string{"Content-Type": "application/json",
			"Ce-Specversion": "1.0", "Ce-Id": "x1", "Ce-Type": purchase.EventType}, nil, http.StatusBadRequest, "event"},
		{"buy_400_cloudevent_time_before_1970", `{"username":"joe","userid":"005","price":"1"}`, map[string]string{"Content-Type": "application/json",
			"Ce-Specversion": "1.0", "Ce-Id": "x1", "Ce-Source": "/t", "Ce-Type": purchase.EventType, "Ce-Time": "1960-01-01T00:00:00Z"}, nil, http.StatusBadRequest, "time"},
		{"buy_415_unparsable_content_type", joe, map[string]string{"Content-Type": "text/html, application/json"}, nil, http.StatusUnsupportedMediaType, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			snd := &fakeSender{err: tt.sendErr}
			rec := apitest.Do(newTestServer(t, snd, claimsAPI(t, snd), time.Second), "POST", "/buy", tt.body, tt.header)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status: got %d, want %d (body %s)", rec.Code, tt.wantStatus, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type: got %q, want application/json", ct)
			}
			if tt.wantStatus != http.StatusAccepted {
				body := decodeJSON[server.ErrorBody](t, rec)
				if body.Status != "Error" || body.Message == "" {
					t.Errorf("error body: got %+v, want status Error and a message", body)
				}
				if _, ok := body.Errors[tt.wantField]; tt.wantField != "" && !ok {
					t.Errorf("errors: got %v, want a problem with %q", body.Errors, tt.wantField)
				}
				if tt.sendErr == nil && len(snd.sent()) != 0 {
					t.Errorf("sent %d events for a rejected request, want 0", len(snd.sent()))
				}
				if tt.wantStatus == http.StatusServiceUnavailable && rec.Header().Get("Retry-After") == "" {
					t.Error("503 without Retry-After")
				}
				return
			}
			resp := decodeJSON[buyResponse](t, rec)
			if resp.Status != "Ok!" || resp.Message != "Message successfully sent to Kafka!" || resp.ID == "" {
				t.Errorf("body: got %+v, want Ok!, the original message and an id", resp)
			}
			sent := snd.sent()
			if len(sent) != 1 || sent[0].ID() != resp.ID || sent[0].Type() != purchase.EventType {
				t.Fatalf("sent: got %v, want one %s event with id %s", sent, purchase.EventType, resp.ID)
			}
			if got := sent[0].Extensions()[purchase.PartitionKeyExtension]; got != "005" {
				t.Errorf("partitionkey: got %v, want 005", got)
			}
		})
	}
}

func TestBuyIdempotencyKey(t *testing.T) {
	t.Parallel()
	snd := &fakeSender{}
	h := newTestServer(t, snd, claimsAPI(t, snd), time.Second)
	buy := func(body, key string) string {
		rec := apitest.Do(h, "POST", "/buy", body, map[string]string{"Content-Type": "application/json", "Idempotency-Key": key})
		if rec.Code != http.StatusAccepted {
			t.Fatalf("status: got %d, want 202 (%s)", rec.Code, rec.Body)
		}
		return decodeJSON[buyResponse](t, rec).ID
	}
	first := buy(joe, "k-1")
	if again := buy(joe, "k-1"); again != first {
		t.Errorf("same key, same user: got id %s, want %s", again, first)
	}
	if other := buy(joe, "k-2"); other == first {
		t.Errorf("other key: got the same id %s, want a new one", other)
	}
	ann := strings.Replace(joe, `"joe"`, `"ann"`, 1)
	if otherUser := buy(ann, "k-1"); otherUser == first {
		t.Errorf("same key, other user: got the same id %s, want a new one", otherUser)
	}
	if a, b := buy(joe, ""), buy(joe, ""); a == b {
		t.Errorf("no key: got the same id twice (%s), want fresh ids", a)
	}
}

func TestBuyCloudEvent(t *testing.T) {
	t.Parallel()
	data := `{"username":"joe","userid":"005","price":"5","timestamp":"2024-05-31T15:54:32.204Z"}`
	structured := `{"specversion":"1.0","id":"evt-42","source":"/client","type":"` + purchase.EventType +
		`","datacontenttype":"application/json","data":` + data + `}`
	tests := []struct {
		name   string
		body   string
		header map[string]string
	}{
		{"binary", data, map[string]string{"Content-Type": "application/json", "Ce-Specversion": "1.0",
			"Ce-Id": "evt-42", "Ce-Source": "/client", "Ce-Type": purchase.EventType}},
		{"structured", structured, map[string]string{"Content-Type": "application/cloudevents+json"}},
	}
	want := eventPurchaseID(purchase.Origin{EventID: "evt-42", EventSource: "/client"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			snd := &fakeSender{}
			rec := apitest.Do(newTestServer(t, snd, claimsAPI(t, snd), time.Second), "POST", "/buy", tt.body, tt.header)
			if rec.Code != http.StatusAccepted {
				t.Fatalf("status: got %d, want 202 (%s)", rec.Code, rec.Body)
			}
			if id := decodeJSON[buyResponse](t, rec).ID; id != want {
				t.Errorf("id: got %s, want %s, derived from the event's source and id", id, want)
			}
			sent := snd.sent()
			if len(sent) != 1 || sent[0].ID() != want {
				t.Fatalf("sent: got %v, want one event %s", sent, want)
			}
			p, err := purchase.FromEvent(sent[0], time.Time{})
			if err != nil || p.Origin != (purchase.Origin{EventID: "evt-42", EventSource: "/client"}) {
				t.Errorf("sent origin: got %+v (%v), want the client's id evt-42 and source /client", p.Origin, err)
			}
		})
	}
}

// TestBuyCloudEventIDsAreScopedBySource: CloudEvents makes (source, id)
// unique, not id. Two sources' equal ids are two purchases; the same
// (source, id) again is the same purchase; a client cannot set the origin
// extensions itself; and no (source, id) pair is confused with another by
// moving characters from one to the other.
func TestBuyCloudEventIDsAreScopedBySource(t *testing.T) {
	t.Parallel()
	data := `{"username":"joe","userid":"005","price":"5","timestamp":"2024-05-31T15:54:32.204Z"}`
	snd := &fakeSender{}
	h := newTestServer(t, snd, claimsAPI(t, snd), time.Second)
	buy := func(source, id string, extra ...string) string {
		t.Helper()
		header := map[string]string{"Content-Type": "application/json", "Ce-Specversion": "1.0",
			"Ce-Id": id, "Ce-Source": source, "Ce-Type": purchase.EventType}
		for i := 0; i+1 < len(extra); i += 2 {
			header[extra[i]] = extra[i+1]
		}
		rec := apitest.Do(h, "POST", "/buy", data, header)
		if rec.Code != http.StatusAccepted {
			t.Fatalf("buy %s %s: got %d, want 202 (%s)", source, id, rec.Code, rec.Body)
		}
		return decodeJSON[buyResponse](t, rec).ID
	}
	a := buy("/client-a", "order-1")
	if b := buy("/client-b", "order-1"); b == a {
		t.Errorf("same id, other source: got the same purchase id %s, want another", a)
	}
	if again := buy("/client-a", "order-1"); again != a {
		t.Errorf("same source and id again: got %s, want %s", again, a)
	}
	if forged := buy("/client-a", "order-1", "Ce-Clienteventid", "x", "Ce-Clienteventsource", "/y",
		"Ce-Idempotencyid", "5d2b6f0e-2c1a-5b7e-9f3d-1a2b3c4d5e6f"); forged != a {
		t.Errorf("with forged origin and key extensions: got %s, want %s", forged, a)
	}
	for _, e := range snd.sent() {
		if e.Extensions()[purchase.KeyIDExtension] != nil || e.Extensions()[purchase.OriginIDExtension] != "order-1" {
			t.Errorf("sent event %s with extensions %v: want the client's origin, no key id", e.ID(), e.Extensions())
		}
	}
	if shifted := buy("/client-ao", "rder-1"); shifted == a {
		t.Errorf("source /client-ao id rder-1: got %s, the id of /client-a order-1", shifted)
	}
}

func TestGetAllUserBuys(t *testing.T) {
	t.Parallel()
	var gotPath, gotQuery string
	var mu sync.Mutex
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotPath, gotQuery = r.URL.Path, r.URL.RawQuery
		mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/nobody") {
			_, _ = io.WriteString(w, `{"status":"Ok!","purchases":[]}`)
			return
		}
		_, _ = io.WriteString(w, `{"status":"Ok!","purchases":[{"_id":"a","username":"Zoë O'Brien","userid":"1","price":"1.00","timestamp":"2024-05-31T15:54:32.204Z"}],"next_cursor":"abc"}`)
	}))
	t.Cleanup(api.Close)
	h := newTestServer(t, &fakeSender{}, api.URL, time.Second)

	rec := apitest.Do(h, "GET", "/getAllUserBuys/Zo%C3%AB%20O%27Brien?limit=1", "", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("status: got %d, want 200 (%s)", rec.Code, rec.Body)
	}
	got := decodeJSON[userBuys](t, rec)
	if got.Username != "Zoë O'Brien" || len(got.Purchases) != 1 || got.NextCursor != "abc" {
		t.Errorf("body: got %+v, want Zoë O'Brien's one purchase and next_cursor abc", got)
	}
	mu.Lock()
	if gotPath != "/buyList/Zoë O'Brien" || gotQuery != "limit=1" {
		t.Errorf("cm-api asked for %q ? %q, want /buyList/Zoë O'Brien ? limit=1", gotPath, gotQuery)
	}
	mu.Unlock()

	rec = apitest.Do(h, "GET", "/getAllUserBuys/nobody", "", nil)
	if !strings.Contains(rec.Body.String(), `"purchases":[]`) {
		t.Errorf("user without purchases: got %s, want \"purchases\":[]", rec.Body)
	}
}

func TestGetAllUserBuysFailures(t *testing.T) {
	t.Parallel()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	rejecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		server.Encode(w, http.StatusBadRequest, server.ErrorBody{Status: "Error", Message: "invalid cursor",
			Errors: map[string]string{"cursor": "is not a cursor this service returned"}})
	}))
	t.Cleanup(rejecting.Close)
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(broken.Close)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	storeSlow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		server.Encode(w, http.StatusGatewayTimeout, server.ErrorBody{Status: "Error", Message: "the purchase store (MongoDB) did not answer in time"})
	}))
	t.Cleanup(storeSlow.Close)

	tests := []struct {
		name       string
		apiURL     string
		target     string
		wantStatus int
		wantSays   string // in the message: which dependency failed
	}{
		{"getAllUserBuys_504_cm_api_slow", slow.URL, "/getAllUserBuys/joe", http.StatusGatewayTimeout, "cm-api, the purchase history service, did not answer within 200ms"},
		{"getAllUserBuys_504_store_slow", storeSlow.URL, "/getAllUserBuys/joe", http.StatusGatewayTimeout, "cm-api: the purchase store (MongoDB) did not answer"},
		{"getAllUserBuys_502_cm_api_down", down.URL, "/getAllUserBuys/joe", http.StatusBadGateway, ""},
		{"getAllUserBuys_502_cm_api_500", broken.URL, "/getAllUserBuys/joe", http.StatusBadGateway, ""},
		{"getAllUserBuys_400_relayed", rejecting.URL, "/getAllUserBuys/joe?cursor=zzz", http.StatusBadRequest, ""},
		{"getAllUserBuys_400_limit", down.URL, "/getAllUserBuys/joe?limit=0", http.StatusBadRequest, ""},
		{"getAllUserBuys_400_limit_too_big", down.URL, "/getAllUserBuys/joe?limit=1001", http.StatusBadRequest, ""},
		{"getAllUserBuys_400_control_char", down.URL, "/getAllUserBuys/jo%00e", http.StatusBadRequest, ""},
		{"getAllUserBuys_400_dot_dot", down.URL, "/getAllUserBuys/%2E%2E", http.StatusBadRequest, ""},
		{"getAllUserBuys_400_invalid_utf8", down.URL, "/getAllUserBuys/bad%FFname", http.StatusBadRequest, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Only the slow cm-api needs the short timeout; the others
			// answer (or refuse) at once, and a short timeout could run
			// out first on a busy machine.
			timeout := 10 * time.Second
			if tt.apiURL == slow.URL {
				timeout = 200 * time.Millisecond
			}
			h := newTestServer(t, &fakeSender{}, tt.apiURL, timeout)
			rec := apitest.Do(h, "GET", tt.target, "", nil)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status: got %d, want %d (%s)", rec.Code, tt.wantStatus, rec.Body)
			}
			body := decodeJSON[server.ErrorBody](t, rec)
			if body.Status != "Error" || body.Message == "" {
				t.Errorf("body: got %+v, want a JSON error", body)
			}
			if !strings.Contains(body.Message, tt.wantSays) {
				t.Errorf("message: got %q, want it to say %q", body.Message, tt.wantSays)
			}
		})
	}
}

func TestSmallRoutes(t *testing.T) {
	t.Parallel()
	h := newTestServer(t, &fakeSender{}, "http://127.0.0.1:1", time.Second)
	tests := []struct {
		name, method, target string
		wantStatus           int
		wantBody             string
	}{
		{"healthz_200_success", "GET", "/healthz", http.StatusOK, "Success"},
		{"readyz_200", "GET", "/readyz", http.StatusOK, `"status":"ready"`},
		{"openapi_200", "GET", "/openapi.yaml", http.StatusOK, "openapi: 3"},
		{"ui_200", "GET", "/", http.StatusOK, "<!doctype html>"},
		{"unknown_404_json", "GET", "/nope", http.StatusNotFound, `"status":"Error"`},
		{"buy_405_get_json", "GET", "/buy", http.StatusMethodNotAllowed, `"status":"Error"`},
		{"dot_segment_redirect_json", "GET", "/getAllUserBuys/.", http.StatusTemporaryRedirect, `moved to /getAllUserBuys"`},
		{"ui_405_post_json", "DELETE", "/", http.StatusMethodNotAllowed, `allowed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := apitest.Do(h, tt.method, tt.target, "", nil)
			if rec.Code != tt.wantStatus || !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("got %d %q, want %d containing %q", rec.Code, rec.Body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

func TestRoutesMatchOpenAPI(t *testing.T) {
	t.Parallel()
	var patterns []string
	for _, rt := range routes(slog.New(slog.DiscardHandler), config{}, &fakeSender{}, nil, nil, telemetry.NewMetrics("cm-server")) {
		patterns = append(patterns, rt.pattern)
	}
	apitest.RoutesMatch(t, openAPI, patterns)
}

func TestConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		want    string // transport
	}{
		{"defaults_kafka", map[string]string{}, "", "kafka"},
		{"k_sink_http", map[string]string{"K_SINK": "http://kafka-sink-ingress.knative-eventing.svc.cluster.local/shop/purchases"}, "", "http"},
		{"bad_sink", map[string]string{"K_SINK": "ftp://x"}, "K_SINK", ""},
		{"https_sink_with_ca", map[string]string{"K_SINK": "https://sink.example", "K_CA_CERTS": testCAPEM}, "", "http"},
		{"https_sink_bad_ca", map[string]string{"K_SINK": "https://sink.example", "K_CA_CERTS": "not a certificate"}, "K_CA_CERTS", ""},
		{"bad_cm_api_url", map[string]string{"CM_API_URL": "localhost:8081"}, "CM_API_URL", ""},
		{"bad_timeout", map[string]string{"CM_API_TIMEOUT": "soon"}, "CM_API_TIMEOUT", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := loadConfig(apitest.Lookup(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || cfg.transport() != tt.want {
				t.Errorf("got %q, %v; want transport %q", cfg.transport(), err, tt.want)
			}
		})
	}
}

func BenchmarkBuyHandler(b *testing.B) {
	cfg, _ := loadConfig(apitest.Lookup(nil))
	log := slog.New(slog.DiscardHandler)
	benchmarkBuy(b, newServer(log, cfg, discardSender{}, newAPIClient("http://127.0.0.1:1", time.Second), server.NewReadiness(log), telemetry.NewMetrics("cm-server")))
}

// BenchmarkBuyHandlerKeyed is BenchmarkBuyHandler with a new
// Idempotency-Key on every purchase, as the web page sends: the difference
// is cm-server's share of the claim (one PUT /claims to a cm-api stand-in
// on loopback that answers 201; the store's share is cm-api's
// BenchmarkMongoStoreClaim).
func BenchmarkBuyHandlerKeyed(b *testing.B) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		server.Encode(w, http.StatusCreated, map[string]any{"status": "Ok!", "stored": false})
	}))
	b.Cleanup(api.Close)
	cfg, _ := loadConfig(apitest.Lookup(map[string]string{"CM_API_URL": api.URL}))
	log := slog.New(slog.DiscardHandler)
	h := newServer(log, cfg, discardSender{}, newAPIClient(api.URL, time.Second), server.NewReadiness(log), telemetry.NewMetrics("cm-server"))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++
		req := httptest.NewRequest("POST", "/buy", strings.NewReader(joe))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "bench-"+strconv.Itoa(n))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// benchmarkBuy posts joe's purchase to h's /buy, wanting 202 each time.
func benchmarkBuy(b *testing.B, h http.Handler) {
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/buy", strings.NewReader(joe))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// discardSender acknowledges every event and keeps none.
type discardSender struct{}

func (discardSender) Send(context.Context, event.Event) error { return nil }
func (discardSender) Ping(context.Context) error              { return nil }
func (discardSender) Close() error                            { return nil }

// BenchmarkBuyRateLimited is the /buy handler (fake sender) with the rate
// limiter off and on, the limiter tracking 100k clients and the requests
// coming from them in turn through a trusted proxy: the limiter's share
// of a request, without the network and the broker that make the load
// test's figure noisy. The limit (a burst of 1000, refilled at 0.001/s)
// refuses no one here, and no bucket is full again, so all 100k stay
// tracked: the limiter's worst case.
func BenchmarkBuyRateLimited(b *testing.B) {
	addrs := make([]string, maxClients)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("11.%d.%d.%d", i>>16, (i>>8)&0xff, i&0xff)
	}
	for _, limit := range []string{"0", "0.001"} {
		b.Run("limit_"+limit, func(b *testing.B) {
			cfg, err := loadConfig(apitest.Lookup(map[string]string{"BUY_RATE_LIMIT": limit, "BUY_RATE_BURST": "1000",
				"FORWARDED_FOR_HOPS": "1", "FORWARDED_FOR_TRUSTED": "192.0.2.1"})) // httptest's peer
			if err != nil {
				b.Fatal(err)
			}
			log := slog.New(slog.DiscardHandler)
			h := newServer(log, cfg, discardSender{}, newAPIClient("http://127.0.0.1:1", time.Second), server.NewReadiness(log), telemetry.NewMetrics("cm-server"))
			buy := func(i int) int {
				req := httptest.NewRequest("POST", "/buy", strings.NewReader(joe))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Forwarded-For", addrs[i%len(addrs)])
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				return rec.Code
			}
			for i := range addrs {
				buy(i)
			}
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				if code := buy(i); code != http.StatusAccepted {
					b.Fatalf("status %d", code)
				}
				i++
			}
		})
	}
}

// heldSender holds each send until released, then reports whether its
// context had ended by then.
type heldSender struct {
	fakeSender
	started, release chan struct{}
	ctxErr           chan error
}

func (g *heldSender) Send(ctx context.Context, e event.Event) error {
	g.started <- struct{}{}
	<-g.release
	g.ctxErr <- ctx.Err()
	return g.fakeSender.Send(ctx, e)
}

// TestBuy_clientGoneDoesNotCutTheSendShort: a shopper who gives up waiting
// does not cancel a purchase half-way to Kafka; only SEND_TIMEOUT bounds it.
func TestBuy_clientGoneDoesNotCutTheSendShort(t *testing.T) {
	t.Parallel()
	snd := &heldSender{started: make(chan struct{}), release: make(chan struct{}), ctxErr: make(chan error, 1)}
	h := newTestServer(t, snd, "http://127.0.0.1:1", time.Second)
	client, leave := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(client, http.MethodPost, "/buy", strings.NewReader(joe))
	req.Header.Set("Content-Type", "application/json")
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}()
	<-snd.started
	leave()
	close(snd.release)
	if err := <-snd.ctxErr; err != nil {
		t.Errorf("the send's context ended with the client: %v", err)
	}
	<-done
	if n := len(snd.sent()); n != 1 {
		t.Errorf("%d purchases sent, want 1", n)
	}
}
