package server

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"testing"
)

// fieldsError is a domain package's validation error, as Fail sees it.
type fieldsError map[string]string

func (e fieldsError) Error() string                    { return fmt.Sprintf("invalid input: %v", map[string]string(e)) }
func (e fieldsError) InvalidFields() map[string]string { return e }

func TestFail_invalidInputIs400NamingEachField(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	err := fmt.Errorf("parse purchase: %w", fieldsError{"price": "must not be negative"})
	Fail(w, httptest.NewRequest("POST", "/buy", nil), slog.New(slog.DiscardHandler), err)
	var body ErrorBody
	if jerr := json.Unmarshal(w.Body.Bytes(), &body); jerr != nil {
		t.Fatalf("body %q: %v", w.Body, jerr)
	}
	if w.Code != 400 || body.Status != "Error" || body.Errors["price"] != "must not be negative" {
		t.Errorf("got %d %+v, want 400 naming price", w.Code, body)
	}
}
