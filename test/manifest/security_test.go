package manifest

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// envValue is one variable as a container sees it: a literal (from env or
// from a ConfigMap through envFrom) or a reference to a Secret's key.
type envValue struct {
	literal string
	secret  *corev1.SecretKeySelector
}

// containerEnv resolves a container's variables within the bundle; env wins
// over envFrom, as in Kubernetes.
func containerEnv(b bundle, c corev1.Container) map[string]envValue {
	out := map[string]envValue{}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef != nil {
			for k, v := range configData(b, from.ConfigMapRef.Name) {
				out[from.Prefix+k] = envValue{literal: v}
			}
		}
	}
	for _, e := range c.Env {
		v := envValue{literal: e.Value}
		if e.ValueFrom != nil {
			v.secret = e.ValueFrom.SecretKeyRef
		}
		out[e.Name] = v
	}
	return out
}

// checkMongoCredentials: a MongoDB user and password apart from the URI come
// together, both from Secrets.
func checkMongoCredentials(b bundle) []error {
	api, err := b.workload("cm-api")
	if err != nil {
		return []error{err}
	}
	env := containerEnv(b, api.containers[0])
	user, hasUser := env["MONGODB_USERNAME"]
	pass, hasPass := env["MONGODB_PASSWORD"]
	switch {
	case hasUser != hasPass:
		return []error{fmt.Errorf("%s: got MONGODB_USERNAME %v and MONGODB_PASSWORD %v, want both or neither", api.m, hasUser, hasPass)}
	case hasUser && (user.secret == nil || pass.secret == nil):
		return []error{fmt.Errorf("%s: got MONGODB_USERNAME %+v, MONGODB_PASSWORD %+v, want both from secretKeyRef", api.m, user, pass)}
	case hasUser && len(b.all("mongodbcommunity.mongodb.com/v1", "MongoDBCommunity")) > 0:
		return []error{fmt.Errorf("%s: got MONGODB_USERNAME with the operator's connection string, want the credentials in one place", api.m)}
	}
	return nil
}

// checkSecureDefaults: as shipped, cm-server requires API keys, from a
// Secret that must exist, and limits the purchase rate.
func checkSecureDefaults(ms []manifest) []error {
	b := bundle(ms)
	w, err := b.workload("cm-server")
	if err != nil {
		return []error{err}
	}
	var errs []error
	env := containerEnv(b, w.containers[0])
	keys, ok := env["API_KEYS"]
	if !ok || keys.secret == nil {
		errs = append(errs, fmt.Errorf("%s API_KEYS: got %+v, want it from a Secret (authentication on by default)", w.m, keys))
	} else if keys.secret.Optional != nil && *keys.secret.Optional {
		errs = append(errs, fmt.Errorf("%s API_KEYS: got optional, want required (a missing Secret must not turn authentication off)", w.m))
	}
	if limit, err := strconv.ParseFloat(env["BUY_RATE_LIMIT"].literal, 64); err != nil || limit <= 0 {
		errs = append(errs, fmt.Errorf("%s BUY_RATE_LIMIT: got %q, want a positive rate (on by default)", w.m, env["BUY_RATE_LIMIT"].literal))
	}
	return errs
}

// checkForwardedFor: behind Knative's ingress, activator and queue-proxy
// the peer address is the queue-proxy's (loopback), so the per-address
// limits need X-Forwarded-For read over those proxies: up to three, from
// loopback and the pod network (docs/security.md).
func checkForwardedFor(b bundle) []error {
	server := configData(b, "cm-server-config")
	limit, _ := strconv.ParseFloat(server["REQUEST_RATE_LIMIT"], 64)
	if limit <= 0 {
		return []error{fmt.Errorf("cm-server-config REQUEST_RATE_LIMIT: got %q, want a positive rate (on by default)", server["REQUEST_RATE_LIMIT"])}
	}
	if server["FORWARDED_FOR_HOPS"] != "3" || !strings.Contains(server["FORWARDED_FOR_TRUSTED"], "127.0.0.0/8") {
		return []error{fmt.Errorf("cm-server-config FORWARDED_FOR_HOPS %q FORWARDED_FOR_TRUSTED %q: want 3 and loopback among the networks (behind Knative every client would share the queue-proxy's address)",
			server["FORWARDED_FOR_HOPS"], server["FORWARDED_FOR_TRUSTED"])}
	}
	return nil
}
