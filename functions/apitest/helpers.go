package apitest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/scalable-shop/scalable-shop/functions/internal/env"
)

// Do sends one request through h and returns the recorded answer.
func Do(h http.Handler, method, target, body string, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// WireHeader reports whether v could arrive as a header value: no control
// characters but tab. Fuzz tests skip other values: they cannot reach a
// handler over HTTP.
func WireHeader(v string) bool {
	return !strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f })
}

// Lookup returns an env.Lookup over m, so a test hands a function its
// environment as a map.
func Lookup(m map[string]string) env.Lookup {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// Get GETs url and returns the status and body; the test fails if the
// request cannot be made.
func Get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read the body: %v", url, err)
	}
	return resp.StatusCode, string(body)
}
