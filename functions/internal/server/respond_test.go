package server

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
)

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "0193b0e6-7e1a-7b3c-9f00-0123456789ab", `a"b`, `a\b`, "<script>", "a&b", "é", "\xff", "\u2028", "tab\t", "~@:._-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendJSONString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("AppendJSONString(%q) = %s, encoding/json writes %s", s, got[1:], want)
		}
	})
}

// appended answers like struct{Status, ID string} with AppendJSON.
type appended struct{ Status, ID string }

func (a appended) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"status":`...)
	dst = AppendJSONString(dst, a.Status)
	dst = append(dst, `,"id":`...)
	return append(AppendJSONString(dst, a.ID), '}')
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
