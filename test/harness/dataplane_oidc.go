package harness

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// SinkAudience is the audience the KafkaSource asks a token for when it
// delivers to cm-api: spec.sink.audience as eventing/kafkasource.yaml
// documents it for sender identity.
func (cfg SourceConfig) SinkAudience() string {
	ns := cfg.Namespace
	if ns == "" {
		ns = dataPlaneNamespace
	}
	return "serving.knative.dev/service/" + ns + "/cm-api"
}

// TokenRequests records the TokenRequests the real dispatcher made of the
// loopback Kubernetes API: the audience of each, in order.
type TokenRequests struct {
	mu        sync.Mutex
	audiences []string
}

// Audiences is what was asked for so far.
func (r *TokenRequests) Audiences() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.audiences...)
}

var tokenRequests sync.Map // SourceConfig.Group -> *TokenRequests

// TokenRequestsOf returns the token requests of the dispatchers of group.
func TokenRequestsOf(group string) *TokenRequests {
	r, _ := tokenRequests.LoadOrStore(group, &TokenRequests{})
	return r.(*TokenRequests)
}

// fakeTokenAPI serves the one Kubernetes API call the dispatcher makes with
// sender identity on: a TokenRequest for the KafkaSource's OIDC service
// account (data-plane/dispatcher/.../impl/auth/TokenProvider.java, through
// fabric8's KubernetesClient: POST
// /api/v1/namespaces/<ns>/serviceaccounts/<name>/token). It answers the
// sink's audience with cfg.Token(), the dead-letter sink's with
// cfg.DeadLetterToken() when set, and any other audience with a token that
// names it, and records each audience asked for. It returns the
// environment that points fabric8's client at it.
func fakeTokenAPI(t testing.TB, cfg SourceConfig) map[string]string {
	t.Helper()
	rec := TokenRequestsOf(cfg.Group)
	path := "/api/v1/namespaces/" + cfg.Namespace + "/serviceaccounts/" + sourceServiceAccount + "/token"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Spec struct {
				Audiences []string `json:"audiences"`
			} `json:"spec"`
		}
		if r.Method != http.MethodPost || r.URL.Path != path || json.NewDecoder(r.Body).Decode(&req) != nil || len(req.Spec.Audiences) != 1 {
			http.Error(w, `{"kind":"Status","status":"Failure","code":404}`, http.StatusNotFound)
			return
		}
		aud := req.Spec.Audiences[0]
		rec.mu.Lock()
		rec.audiences = append(rec.audiences, aud)
		rec.mu.Unlock()
		token := "token-for:" + aud
		switch {
		case aud == cfg.SinkAudience():
			token = cfg.Token()
		case aud == DeadLetterAudience(cfg.Namespace) && cfg.DeadLetterToken != nil:
			token = cfg.DeadLetterToken()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
			"spec":   map[string]any{"audiences": []string{aud}, "expirationSeconds": 3600},
			"status": map[string]any{"token": token, "expirationTimestamp": "2099-01-01T00:00:00Z"},
		})
	}))
	t.Cleanup(srv.Close)
	return map[string]string{"KUBERNETES_MASTER": srv.URL, "KUBERNETES_AUTH_TRYKUBECONFIG": "false",
		"KUBERNETES_AUTH_TRYSERVICEACCOUNT": "false", "KUBERNETES_NAMESPACE": cfg.Namespace}
}
