package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type missing struct{}

func (missing) Error() string  { return "topic purchases does not exist on broker-0.kafka:9092" }
func (missing) Detail() string { return "topic purchases does not exist" }

// failing is a readiness over three checks, two of them failing.
func failing(log *slog.Logger) *Readiness {
	rd := NewReadiness(log,
		Check{Name: "kafka", Ping: func(context.Context) error { return errors.Join(errors.New("metadata"), missing{}) }},
		Check{Name: "mongodb", Ping: func(context.Context) error { return errors.New("dial tcp 10.0.0.7:27017: refused") }},
		Check{Name: "indexes", Ping: func(context.Context) error { return nil }})
	rd.Info = map[string]string{"transport": "kafka"}
	return rd
}

// TestReadyz_publicSaysReadyOrNotOnly: the public /readyz, which the
// Knative route exposes, answers the status and nothing else: no check
// names, no error text, no version, no configuration.
func TestReadyz_publicSaysReadyOrNotOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		rd   *Readiness
		code int
		want string
	}{
		{"not_ready_503", failing(slog.New(slog.DiscardHandler)), http.StatusServiceUnavailable, `{"status":"not ready"}`},
		{"ready_200", NewReadiness(slog.New(slog.DiscardHandler), Check{Name: "kafka", Ping: func(context.Context) error { return nil }}),
			http.StatusOK, `{"status":"ready"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			HandleReadyz(tc.rd).ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			if got := strings.TrimSpace(rec.Body.String()); rec.Code != tc.code || got != tc.want {
				t.Errorf("got %d %s, want %d %s", rec.Code, got, tc.code, tc.want)
			}
		})
	}
}

// TestReadyz_detailsOnTheMetricsPort: the metrics port's /readyz shows each
// check's state (a detail that names no host, else "unavailable"), each
// failure's error text, the version and Info.
func TestReadyz_detailsOnTheMetricsPort(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	OpsHandler(http.NotFoundHandler(), failing(slog.New(slog.DiscardHandler))).ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
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
	if !strings.Contains(body.Errors["mongodb"], "dial tcp 10.0.0.7:27017: refused") ||
		!strings.Contains(body.Errors["kafka"], "broker-0.kafka:9092") || len(body.Errors) != 2 {
		t.Errorf("errors: got %q, want both failures' text", body.Errors)
	}
	if rec.Code != http.StatusServiceUnavailable || body.Status != "not ready" || body.Info["transport"] != "kafka" || body.Version == "" {
		t.Errorf("got %d %+v, want 503 not ready with the version and info.transport kafka", rec.Code, body)
	}
}

// TestReadiness_logsAFailureWhenItChangesNotPerProbe: probes of a
// dependency that stays down log its failure once; its recovery and a new
// failure are logged again.
func TestReadiness_logsAFailureWhenItChangesNotPerProbe(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	down := true
	rd := NewReadiness(slog.New(slog.NewJSONHandler(&logs, nil)), Check{Name: "mongodb", Ping: func(context.Context) error {
		if down {
			return errors.New("dial tcp 10.0.0.7:27017: refused")
		}
		return nil
	}})
	rd.ttl = 0 // every probe checks
	probe := func(n int) {
		for range n {
			rd.Ready(context.Background())
		}
	}
	probe(5)
	down = false
	probe(3)
	down = true
	probe(4)
	if got := strings.Count(logs.String(), `"msg":"dependency unavailable"`); got != 2 {
		t.Errorf("failures logged: got %d, want 2 (one per outage)\n%s", got, logs.String())
	}
	if got := strings.Count(logs.String(), `"msg":"dependencies available again"`); got != 1 {
		t.Errorf("recoveries logged: got %d, want 1\n%s", got, logs.String())
	}
	if !strings.Contains(logs.String(), "10.0.0.7:27017") {
		t.Errorf("log: got %s, want the error's text", logs.String())
	}
}
