package server

import (
	"net/http/httptest"
	"testing"
)

func TestEncode_writesJSONWithItsStatus(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	Encode(w, 202, struct {
		Status string `json:"status"`
		ID     string `json:"id"`
	}{"Ok!", "a<b"})
	if w.Code != 202 || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q", w.Code, w.Header().Get("Content-Type"))
	}
	if got, want := w.Body.String(), "{\"status\":\"Ok!\",\"id\":\"a\\u003cb\"}\n"; got != want {
		t.Errorf("body %q, want %q", got, want)
	}
}
