package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

// FuzzBuy sends random bodies and headers to POST /buy through the real mux.
// The answer is always JSON; never a 5xx but the 503 of a sender that fails;
// a 202 sends exactly one event, with the answered id, that cm-api can store
// (purchase.FromEvent accepts it), and a plain JSON purchase is 202'd only
// if purchase.Parse accepts its body. Nothing is sent for a 4xx.
func FuzzBuy(f *testing.F) {
	structured := `{"specversion":"1.0","id":"evt-1","source":"/client","type":"` + purchase.EventType +
		`","datacontenttype":"application/json","data":` + joe + `}`
	noTime := `{"username":"joe","userid":"005","price":"5"}`
	for _, s := range []struct {
		body, ctype, key, specversion, ceTime string
		fail                                  bool
	}{
		{joe, "application/json", "", "", "", false},
		{joe, "", "", "", "", false},
		{joe, "application/json", "", "", "", true},
		{joe, "application/json", "order-1", "", "", false},
		{joe, "application/json", "has space", "", "", false},
		{joe, "application/json; charset=utf-8", "", "", "", false},
		{joe, "text/plain", "", "", "", false},
		{joe, "application/x-www-form-urlencoded", "", "", "", false},
		{joe, "application/json", "", "1.0", "", false},
		{noTime, "application/json", "", "1.0", "2024-05-31T15:54:32.204Z", false},
		{noTime, "application/json", "", "1.0", "yesterday", false},
		{noTime, "application/json", "", "1.0", "1960-01-01T00:00:00Z", false},
		{structured, "application/cloudevents+json", "", "", "", false},
		{`{"specversion":`, "application/cloudevents+json", "", "", "", false},
		{`{"username":1195.3,"userid":"005","price":1195.3}`, "application/json", "", "", "", false},
		{`{"username":"joe","userid":"005","price":1195.3}`, "application/json", "", "", "", false},
		{`{"username":{"$ne":""},"userid":"1","price":1}`, "application/json", "", "", "", false},
		{`{"username":"joe","userid":"005","price":"-1"}`, "application/json", "", "", "", false},
		{`{"username":"joe","userid":"005","price":"1.001"}`, "application/json", "", "", "", false},
		{`{"username":"joe","userid":"005","price":"1","timestamp":"1969-12-31T23:59:59.999Z"}`, "application/json", "", "", "", false},
		{`{"username":"joe","userid":"005","price":"1","extra":true}`, "application/json", "", "", "", false},
		{"{\"username\":\"jo\xffe\",\"userid\":\"1\",\"price\":\"1\"}", "application/json", "", "", "", false},
		{`[]`, "application/json", "", "", "", false},
		{``, "", "", "", "", false},
		{strings.Repeat("[", 100) + strings.Repeat("]", 100), "application/json", "", "", "", false},
	} {
		f.Add([]byte(s.body), s.ctype, s.key, s.specversion, s.ceTime, s.fail)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, body []byte, ctype, key, specversion, ceTime string, fail bool) {
		snd := &fakeSender{}
		if fail {
			snd.err = errNotDelivered
		}
		req := httptest.NewRequest(http.MethodPost, "/buy", bytes.NewReader(body))
		binary := specversion != "" && apitest.WireHeader(specversion)
		for k, v := range map[string]string{"Content-Type": ctype, "Idempotency-Key": key, "Ce-Specversion": specversion,
			"Ce-Time": ceTime} {
			if v != "" && apitest.WireHeader(v) {
				req.Header.Set(k, v)
			}
		}
		if binary {
			req.Header.Set("Ce-Id", "evt-1")
			req.Header.Set("Ce-Source", "/client")
			req.Header.Set("Ce-Type", purchase.EventType)
		}
		rec := httptest.NewRecorder()
		newTestServer(t, snd, claimsAPI(t, snd), time.Second).ServeHTTP(rec, req)

		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type: got %q, want application/json (status %d, body %q)", ct, rec.Code, rec.Body)
		}
		sent := snd.sent()
		if rec.Code != http.StatusAccepted {
			var e server.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Status != "Error" || e.Message == "" {
				t.Fatalf("error answer %d %q: want {\"status\":\"Error\",\"message\":...}", rec.Code, rec.Body)
			}
			if rec.Code >= 500 && !(rec.Code == http.StatusServiceUnavailable && fail) {
				t.Fatalf("status: got %d %q, want no 5xx but the 503 of a failing sender", rec.Code, rec.Body)
			}
			if len(sent) != 0 {
				t.Fatalf("answered %d but sent %d events, want 0", rec.Code, len(sent))
			}
			return
		}
		var ok buyResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &ok); err != nil || ok.Status != server.StatusOK || ok.ID == "" {
			t.Fatalf("202 answer %q: want Ok! with an id", rec.Body)
		}
		if len(sent) != 1 || sent[0].ID() != ok.ID {
			t.Fatalf("answered 202 for %s, sent %v, want exactly that event", ok.ID, sent)
		}
		// cm-api reads the event with FromEvent and no clock: it must take it.
		if _, err := purchase.FromEvent(sent[0], time.Time{}); err != nil {
			t.Fatalf("answered 202 for an event cm-api rejects: %v (event %s)", err, sent[0])
		}
		plain := !binary && !strings.Contains(strings.ToLower(ctype), "cloudevents")
		if _, err := purchase.Parse("fuzz", body, now); plain && err != nil {
			t.Fatalf("answered 202 for a body purchase.Parse rejects: %v", err)
		}
	})
}
