package apitest

import (
	"net/http"
	"net/http/httptest"
	"strings"

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
