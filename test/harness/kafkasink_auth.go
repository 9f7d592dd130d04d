package harness

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// SinkAuth is a KafkaSink's sender check with Knative Eventing's
// authentication-oidc on (eventing-kafka-broker knative-v1.23.0,
// data-plane/receiver/.../impl/handler/AuthHandler.java and
// impl/auth/AuthVerifierImpl.java): a request needs a bearer token signed
// by the cluster's issuer for the sink's own audience, else 401; its
// subject must be one an EventPolicy allows, else 403. Neither is retried
// by a dispatcher.
type SinkAuth struct {
	IssuerURL string   // the issuer; its keys are read from IssuerURL + "/keys"
	Audience  string   // the sink's audience: KafkaSinkAudience
	Subjects  []string // the subjects the sink's EventPolicies allow
}

// KafkaSinkAudience is a KafkaSink's OIDC audience, as the controller
// publishes it (control-plane/pkg/reconciler/sink/kafka_sink.go with
// knative.dev/eventing pkg/auth GetAudience: group/kind/namespace/name,
// lower case).
func KafkaSinkAudience(namespace, name string) string {
	return "eventing.knative.dev/kafkasink/" + namespace + "/" + name
}

// check answers 0 when r may send, else 401 or 403.
func (a *SinkAuth) check(r *http.Request) int {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		return http.StatusUnauthorized
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil || len(tok.Headers) == 0 {
		return http.StatusUnauthorized
	}
	keys, err := a.keys()
	if err != nil {
		return http.StatusUnauthorized
	}
	found := keys.Key(tok.Headers[0].KeyID)
	if len(found) == 0 {
		return http.StatusUnauthorized
	}
	var claims jwt.Claims
	if err := tok.Claims(found[0].Key, &claims); err != nil {
		return http.StatusUnauthorized
	}
	if claims.Validate(jwt.Expected{Issuer: a.IssuerURL, AnyAudience: jwt.Audience{a.Audience}, Time: time.Now()}) != nil {
		return http.StatusUnauthorized
	}
	if !slices.Contains(a.Subjects, claims.Subject) {
		return http.StatusForbidden
	}
	return 0
}

func (a *SinkAuth) keys() (*jose.JSONWebKeySet, error) {
	resp, err := http.Get(a.IssuerURL + "/keys")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	return &set, json.NewDecoder(resp.Body).Decode(&set)
}
