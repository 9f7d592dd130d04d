package server

import (
	"net/http/httptest"
	"testing"

	"github.com/scalable-shop/scalable-shop/functions/internal/jsonstring"
)

// appended answers like struct{Status, ID string} with AppendJSON.
type appended struct{ Status, ID string }

func (a appended) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"status":`...)
	dst = jsonstring.Append(dst, a.Status)
	dst = append(dst, `,"id":`...)
	return append(jsonstring.Append(dst, a.ID), '}')
}

func TestEncode_uses_the_answers_own_JSON(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	Encode(w, 202, appended{"Ok!", "a<b"})
	if w.Code != 202 || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q", w.Code, w.Header().Get("Content-Type"))
	}
	if got, want := w.Body.String(), "{\"status\":\"Ok!\",\"id\":\"a\\u003cb\"}\n"; got != want {
		t.Errorf("body %q, want %q", got, want)
	}
}
