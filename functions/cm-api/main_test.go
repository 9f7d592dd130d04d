package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
	"github.com/scalable-shop/scalable-shop/functions/apitest/authtest"
)

// TestRunSmoke starts cm-api in HTTP mode through run, as main does, waits
// for /readyz, stores an event, reads it back, finds it counted on the
// metrics port (and no metrics on the public one) and shuts down cleanly.
func TestRunSmoke(t *testing.T) {
	uri := testMongoURI(t)
	api := apitest.StartRun(t, run, map[string]string{"MONGODB_URI": uri, "MONGODB_DATABASE": "smoke_" + uuid.NewString()[:8]}, io.Discard)
	base := api.Base
	apitest.WaitReady(t, base+"/readyz", 15*time.Second)
	req, _ := http.NewRequest("POST", base+"/", strings.NewReader(data))
	for k, v := range binary("smoke-1", "io.scalableshop.purchase.created.v1") {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST event: got %v %v, want 200", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get(base + "/buyList/joe")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"_id":"smoke-1"`) {
		t.Errorf("buyList: got %s, want the stored purchase", body)
	}
	if code, body := apitest.Get(t, api.Metrics+"/metrics"); code != http.StatusOK ||
		!strings.Contains(body, `shop_events_total{function="cm-api",result="stored"} 1`) {
		t.Errorf("metrics port /metrics: got %d %.200q, want 200 counting the stored event", code, body)
	}
	// The public /readyz waits for neither the store nor its indexes (cm-api
	// stays in service through a store outage); the metrics port's reports
	// both, and the indexes are created in the background: wait for them.
	apitest.WaitReady(t, api.Metrics+"/readyz", 15*time.Second)
	if code, body := apitest.Get(t, api.Metrics+"/readyz"); code != http.StatusOK || !strings.Contains(body, `"mongodb":"ok"`) {
		t.Errorf("metrics port /readyz: got %d %s, want 200 with mongodb ok", code, body)
	}
	if code, body := apitest.Get(t, base+"/metrics"); code != http.StatusNotFound || strings.Contains(body, "shop_") {
		t.Errorf("public /metrics: got %d %.200q, want 404", code, body)
	}
	if err := api.Stop(t); err != nil {
		t.Errorf("run: got %v, want a clean stop", err)
	}
}

// TestSecretsNeverLogged runs cm-api with every secret it can be given,
// against a store and brokers that do not answer, sends it events with good
// and bad sender tokens, and checks logs and answers.
func TestSecretsNeverLogged(t *testing.T) {
	iss := authtest.NewIssuer(t, "cm-api-events")
	secrets := map[string]string{
		"MONGODB_URI":         "mongodb://shop:uri-secret-5d2e@127.0.0.1:1/?authSource=admin",
		"MONGODB_PASSWORD":    "pw-secret-0b7a",
		"KAFKA_SASL_PASSWORD": "sasl-secret-c3d9",
	}
	vars := map[string]string{"MONGODB_USERNAME": "shop", "MONGODB_TIMEOUT": "200ms",
		"KAFKA_BROKERS": "127.0.0.1:1", "KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "shop", "LOG_LEVEL": "debug",
		"EVENTS_AUDIENCE": iss.Audience, "EVENTS_ISSUER_URL": iss.URL}
	for k, v := range secrets {
		vars[k] = v
	}
	tokens := map[string]string{"the source's token": iss.Token(t, "", nil), "an expired token": iss.Expired(t, ""),
		"a forged token": iss.Foreign(t, "")}
	for name, token := range tokens {
		secrets[name] = token
	}
	var logs apitest.SyncBuffer
	api := apitest.StartRun(t, run, vars, &logs)
	base := api.Base
	var answers strings.Builder
	for _, c := range []struct{ path, token string }{{"/readyz", ""}, {"/buyList/joe", ""}, {"/", "the source's token"},
		{"/", "an expired token"}, {"/", "a forged token"}} {
		method := "GET"
		if c.path == "/" {
			method = "POST"
		}
		req, _ := http.NewRequest(method, base+c.path, strings.NewReader(data))
		for k, v := range binary("s-1", "io.scalableshop.purchase.created.v1") {
			req.Header.Set(k, v)
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+tokens[c.token])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answers.Write(body)
	}
	// Look only once both background connects have failed and said so: those
	// are the lines that would carry the URI or the SASL password.
	for _, line := range []string{"cannot reach Kafka yet", "cannot create indexes yet"} {
		waitFor(t, func() string {
			if !strings.Contains(logs.String(), line) {
				return "the logs do not say " + line
			}
			return ""
		})
	}
	_ = api.Stop(t) // it fails: nothing answers; the logs are what counts
	for name, secret := range secrets {
		secret = strings.TrimPrefix(secret, "mongodb://shop:") // the URI's secret part
		secret, _, _ = strings.Cut(secret, "@")
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the logs show %s", name)
		}
		if strings.Contains(answers.String(), secret) {
			t.Errorf("an answer shows %s", name)
		}
	}
	if !strings.Contains(answers.String(), "unavailable") || !strings.Contains(logs.String(), `"reason":"expired"`) {
		t.Errorf("answers: got %s, want the store reported unavailable; logs: want a refused sender's reason", answers.String())
	}
}
