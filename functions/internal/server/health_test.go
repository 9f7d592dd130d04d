package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

type missing struct{}

func (missing) Error() string  { return "topic purchases does not exist on broker-0.kafka:9092" }
func (missing) Detail() string { return "topic purchases does not exist" }

// TestReadyz_showsDetailsThatNameNoHost: a check's cause is shown only when
// it can say what is wrong without naming hosts; Info is always shown.
func TestReadyz_showsDetailsThatNameNoHost(t *testing.T) {
	t.Parallel()
	rd := NewReadiness(slog.New(slog.DiscardHandler),
		Check{Name: "kafka", Ping: func(context.Context) error { return errors.Join(errors.New("metadata"), missing{}) }},
		Check{Name: "mongodb", Ping: func(context.Context) error { return errors.New("dial tcp 10.0.0.7:27017: refused") }},
		Check{Name: "indexes", Ping: func(context.Context) error { return nil }})
	rd.Info = map[string]string{"transport": "kafka"}
	rec := httptest.NewRecorder()
	HandleReadyz(rd).ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	var body readyBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"kafka": "topic purchases does not exist", "mongodb": "unavailable", "indexes": "ok"}
	for k, v := range want {
		if body.Checks[k] != v {
			t.Errorf("checks[%s]: got %q, want %q", k, body.Checks[k], v)
		}
	}
	if rec.Code != http.StatusServiceUnavailable || body.Status != "not ready" || body.Info["transport"] != "kafka" {
		t.Errorf("got %d %+v, want 503 not ready with info.transport kafka", rec.Code, body)
	}
}
