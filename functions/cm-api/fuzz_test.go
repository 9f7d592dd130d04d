package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

// FuzzReceive sends random events to POST / through the real mux, with
// random CloudEvents headers. Whatever arrives, the answer is JSON and never
// a 5xx (the store never fails here); 200 only once a valid purchase was
// stored under the answered id, and nothing is stored otherwise.
func FuzzReceive(f *testing.F) {
	structured := `{"specversion":"1.0","id":"s-1","source":"/x","type":"` + purchase.EventType +
		`","datacontenttype":"application/json","data":` + data + `}`
	for _, s := range []struct{ body, ctype, specversion, id, typ, source, ceTime string }{
		{data, "application/json", "1.0", "b-1", purchase.EventType, "/t", ""},
		{data, "application/json", "1.0", "b-1", purchase.EventType, "/t", "2024-05-31T15:54:32.204Z"},
		{data, "", "1.0", "b-1", purchase.EventType, "/t", ""},
		{data, "application/json", "0.3", "b-1", purchase.EventType, "/t", ""},
		{data, "application/json", "2.0", "b-1", purchase.EventType, "/t", ""},
		{data, "application/json", "1.0", "", purchase.EventType, "/t", ""},
		{data, "application/json", "1.0", "b 1", purchase.EventType, "/t", ""},
		{data, "application/json", "1.0", "b-1", "dev.knative.kafka.event", "/t", ""},
		{data, "application/json", "1.0", "b-1", purchase.EventType, "/t", "yesterday"},
		{data, "application/xml", "1.0", "b-1", purchase.EventType, "/t", ""},
		{data, "application/json", "", "", "", "", ""},
		{structured, "application/cloudevents+json", "", "", "", "", ""},
		{structured, "application/cloudevents+json; charset=utf-8", "", "", "", "", ""},
		{`[` + structured + `]`, "application/cloudevents-batch+json", "", "", "", "", ""},
		{`{"specversion":`, "application/cloudevents+json", "", "", "", "", ""},
		{`{"specversion":"1.0","id":7,"source":[],"type":{}}`, "application/cloudevents+json", "", "", "", "", ""},
		{`{"username":{"$ne":""},"userid":"1","price":"1","timestamp":"2024-05-31T15:54:32.204Z"}`, "application/json", "1.0", "b-2", purchase.EventType, "/t", ""},
		{`{"username":"joe","userid":"005","price":"1.001","timestamp":"2024-05-31T15:54:32.204Z"}`, "application/json", "1.0", "b-3", purchase.EventType, "/t", ""},
		{"{\"username\":\"jo\xffe\",\"userid\":\"1\",\"price\":\"1\",\"timestamp\":\"2024-05-31T15:54:32.204Z\"}", "application/json", "1.0", "b-4", purchase.EventType, "/t", ""},
		{"", "application/json", "1.0", "b-5", purchase.EventType, "/t", ""},
		{"\x00\x01\x02", "text/plain", "", "", "", "", ""},
	} {
		f.Add([]byte(s.body), s.ctype, s.specversion, s.id, s.typ, s.source, s.ceTime)
	}
	f.Fuzz(func(t *testing.T, body []byte, ctype, specversion, id, typ, source, ceTime string) {
		st := newMemStore()
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		for k, v := range map[string]string{"Content-Type": ctype, "Ce-Specversion": specversion, "Ce-Id": id,
			"Ce-Type": typ, "Ce-Source": source, "Ce-Time": ceTime} {
			if v != "" && apitest.WireHeader(v) {
				req.Header.Set(k, v)
			}
		}
		rec := httptest.NewRecorder()
		newTestServer(t, st).ServeHTTP(rec, req)

		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type: got %q, want application/json (status %d, body %q)", ct, rec.Code, rec.Body)
		}
		if rec.Code != http.StatusOK {
			var e server.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Status != "Error" || e.Message == "" {
				t.Fatalf("error answer %d %q: want {\"status\":\"Error\",\"message\":...}", rec.Code, rec.Body)
			}
			switch rec.Code {
			case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
			default:
				t.Fatalf("status: got %d %q, want 200, 400, 413 or 415", rec.Code, rec.Body)
			}
			if n := st.count(); n != 0 {
				t.Fatalf("answered %d but stored %d purchases, want 0", rec.Code, n)
			}
			return
		}
		var ok receiveResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &ok); err != nil || ok.Status != server.StatusOK || ok.Duplicate {
			t.Fatalf("200 answer %q: want {\"status\":\"Ok!\",\"id\":...,\"duplicate\":false}", rec.Body)
		}
		stored, found := st.ps[ok.ID]
		if st.count() != 1 || !found {
			t.Fatalf("answered 200 for %s, stored %v, want exactly that purchase", ok.ID, st.ps)
		}
		// What was stored must be a purchase Parse accepts as it is.
		again, err := json.Marshal(map[string]string{"username": stored.Username, "userid": stored.UserID,
			"price": stored.Price.String(), "timestamp": purchase.FormatTime(stored.Timestamp)})
		if err != nil {
			t.Fatal(err)
		}
		if p, err := purchase.Parse(stored.ID, again, time.Time{}); err != nil || p != stored {
			t.Fatalf("stored %+v does not parse back (%v)", stored, err)
		}
	})
}
