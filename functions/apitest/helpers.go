package apitest

import (
	"net/http"
	"net/http/httptest"
	"strings"
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
