package manifest

import (
	"fmt"
	"path"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// kafkaAuth is how a function authenticates to Kafka, read from its container.
type kafkaAuth struct {
	mechanism, username string
	password            *corev1.SecretKeySelector
	tls                 bool
	ca                  *corev1.SecretKeySelector // the Secret key mounted as KAFKA_TLS_CA_FILE
}

func (k kafkaAuth) on() bool { return k.mechanism != "" || k.tls }

func (k kafkaAuth) String() string {
	ref := func(r *corev1.SecretKeySelector) string {
		if r == nil {
			return "none"
		}
		return r.Name + "/" + r.Key
	}
	return fmt.Sprintf("{sasl %q user %q password %s tls %v ca %s}", k.mechanism, k.username, ref(k.password), k.tls, ref(k.ca))
}

// kafkaMechanisms are the values KAFKA_SASL_MECHANISM accepts
// (functions/internal/broker/security.go), with KEDA's name for each.
var kafkaMechanisms = map[string]string{"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256", "SCRAM-SHA-512": "scram_sha512"}

// kafkaAuthOf reads and checks the Kafka settings of a workload's container.
func kafkaAuthOf(b bundle, w workload) (kafkaAuth, []error) {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{w.m}, args...)...))
	}
	c := w.containers[0]
	env := containerEnv(b, c)
	k := kafkaAuth{mechanism: env["KAFKA_SASL_MECHANISM"].literal, username: env["KAFKA_SASL_USERNAME"].literal,
		password: env["KAFKA_SASL_PASSWORD"].secret}
	if k.mechanism != "" {
		if _, ok := kafkaMechanisms[k.mechanism]; !ok {
			fail("KAFKA_SASL_MECHANISM: got %q, want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", k.mechanism)
		}
		if k.username == "" || k.password == nil {
			fail("KAFKA_SASL_MECHANISM=%s: got user %q and password %v, want KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD from a Secret", k.mechanism, k.username, k.password)
		}
	} else if _, ok := env["KAFKA_SASL_PASSWORD"]; ok || k.username != "" {
		fail("got KAFKA_SASL_USERNAME/PASSWORD without KAFKA_SASL_MECHANISM, want all three or none")
	}
	if tls := env["KAFKA_TLS"].literal; tls != "" {
		b, err := strconv.ParseBool(tls)
		if err != nil {
			fail("KAFKA_TLS: got %q, want true or false", tls)
		}
		k.tls = b
	}
	if file := env["KAFKA_TLS_CA_FILE"].literal; file != "" {
		k.tls = true
		ca, err := mountedSecretFile(w, c, file)
		if err != nil {
			fail("KAFKA_TLS_CA_FILE: %v", err)
		}
		k.ca = ca
	}
	return k, errs
}

// mountedSecretFile finds the Secret key that a read-only volume puts at file.
func mountedSecretFile(w workload, c corev1.Container, file string) (*corev1.SecretKeySelector, error) {
	dir, base := path.Split(file)
	for _, vm := range c.VolumeMounts {
		if path.Clean(vm.MountPath) != path.Clean(dir) {
			continue
		}
		if !vm.ReadOnly {
			return nil, fmt.Errorf("volume %s at %s: got writable, want readOnly", vm.Name, vm.MountPath)
		}
		for _, v := range w.volumes {
			if v.Name != vm.Name || v.Secret == nil {
				continue
			}
			for _, item := range v.Secret.Items {
				if item.Path == base {
					return &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: v.Secret.SecretName}, Key: item.Key}, nil
				}
			}
		}
		return nil, fmt.Errorf("got volume %s at %s without a Secret item at %s", vm.Name, vm.MountPath, base)
	}
	return nil, fmt.Errorf("got %s, want a read-only Secret volume mounted at %s", file, dir)
}

// sameRef reports whether two Secret key references name the same key.
func sameRef(a, b *corev1.SecretKeySelector) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Name == b.Name && a.Key == b.Key
}

// checkKafkaAuthWiring: what the functions use to reach Kafka is what the
// KafkaSinks and KafkaSource (knative) or KEDA's scaler (kubernetes) use.
// With a user per component (the in-chart Strimzi cluster, or
// kafka.auth.sasl.userPerComponent) checkKafkaUsersWiring and
// checkKafkaUsers hold instead.
func checkKafkaAuthWiring(b bundle, mode string) []error {
	if perComponentKafka(b, mode) {
		roles, errs := checkKafkaUsersWiring(b, mode)
		return append(errs, checkKafkaUsers(b, mode, roles)...)
	}
	if len(b.all(strimziAPI, "Kafka")) > 0 {
		return []error{fmt.Errorf("the in-chart Kafka: got components that share a Kafka user or lack a password Secret of their own, want a user per component, each password from a Secret")}
	}
	server, err := b.workload("cm-server")
	if err != nil {
		return []error{err}
	}
	auth, errs := kafkaAuthOf(b, server)
	api, err := b.workload("cm-api")
	if err != nil {
		return append(errs, err)
	}
	apiAuth, apiErrs := kafkaAuthOf(b, api)
	errs = append(errs, apiErrs...)
	if mode == "knative" {
		if apiAuth.on() {
			errs = append(errs, fmt.Errorf("%s: got Kafka credentials, want none (in Knative mode the KafkaSource reads Kafka, cm-api does not)", api.m))
		}
		return append(errs, checkKnativeKafkaAuth(b, auth)...)
	}
	if apiAuth.mechanism != auth.mechanism || apiAuth.username != auth.username || !sameRef(apiAuth.password, auth.password) ||
		apiAuth.tls != auth.tls || !sameRef(apiAuth.ca, auth.ca) {
		errs = append(errs, fmt.Errorf("%s Kafka auth: got %v, want the same as cm-server's %v", api.m, apiAuth, auth))
	}
	return append(errs, checkKEDAKafkaAuth(b, apiAuth)...)
}

// checkKnativeKafkaAuth: the KafkaSinks and the KafkaSource read one Secret in
// Knative's layout, and speak SASL and TLS exactly when cm-server does.
func checkKnativeKafkaAuth(b bundle, auth kafkaAuth) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	secrets := map[string]bool{}
	for _, sink := range b.all(kafkaSinkAPI, "KafkaSink") {
		name := str(sink, "spec", "auth", "secret", "ref", "name")
		if auth.on() != (name != "") {
			fail("%s spec.auth.secret.ref.name: got %q with cm-server's Kafka SASL %q TLS %v, want a Secret exactly when cm-server authenticates", sink, name, auth.mechanism, auth.tls)
		}
		if name != "" {
			secrets[name] = true
		}
	}
	if len(secrets) > 1 {
		fail("KafkaSinks: got auth Secrets %v, want one", secrets)
	}
	var secret string
	for s := range secrets {
		secret = s
	}
	for _, src := range b.all(sourcesAPI, "KafkaSource") {
		sasl, _, _ := nestedMap(src.obj, "spec", "net", "sasl")
		if enabled, _ := sasl["enable"].(bool); enabled != (auth.mechanism != "") {
			fail("%s spec.net.sasl.enable: got %v, want %v like cm-server (KAFKA_SASL_MECHANISM %q)", src, enabled, auth.mechanism != "", auth.mechanism)
		}
		want := map[string]string{"type": "sasl.mechanism", "user": "user", "password": "password"}
		if auth.mechanism == "" {
			want = nil
		}
		errs = append(errs, checkSecretRefs(src, []string{"spec", "net", "sasl"}, secret, want)...)
		tls, _, _ := nestedMap(src.obj, "spec", "net", "tls")
		if enabled, _ := tls["enable"].(bool); enabled != auth.tls {
			fail("%s spec.net.tls.enable: got %v, want %v like cm-server", src, enabled, auth.tls)
		}
		want = nil
		if auth.ca != nil {
			want = map[string]string{"caCert": "ca.crt"}
		}
		errs = append(errs, checkSecretRefs(src, []string{"spec", "net", "tls"}, secret, want)...)
	}
	return errs
}

// checkSecretRefs requires the secretKeyRefs under fields of m to be exactly
// want (field -> key), all in the Secret secret.
func checkSecretRefs(m manifest, fields []string, secret string, want map[string]string) []error {
	var errs []error
	got := map[string]string{}
	parent, _, _ := nestedMap(m.obj, fields...)
	for f, v := range parent {
		sub, _ := v.(map[string]any)
		ref, ok := sub["secretKeyRef"].(map[string]any)
		if !ok {
			continue
		}
		if ref["name"] != secret {
			errs = append(errs, fmt.Errorf("%s %v.%s: got Secret %v, want %q (the KafkaSinks' auth Secret)", m, fields, f, ref["name"], secret))
		}
		got[f], _ = ref["key"].(string)
	}
	if len(got)+len(want) > 0 && fmt.Sprint(got) != fmt.Sprint(want) {
		errs = append(errs, fmt.Errorf("%s %v secretKeyRefs: got %v, want %v (Knative's keys)", m, fields, got, want))
	}
	return errs
}

// checkKEDAKafkaAuth: KEDA reads the lag with cm-api's own mechanism, user,
// password and CA.
func checkKEDAKafkaAuth(b bundle, auth kafkaAuth) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, so := range b.all("keda.sh/v1alpha1", "ScaledObject") {
		triggers, _ := so.obj["spec"].(map[string]any)["triggers"].([]any)
		for _, tr := range triggers {
			trigger, _ := tr.(map[string]any)
			md, _ := trigger["metadata"].(map[string]any)
			if got, want := fmt.Sprint(md["sasl"]), kafkaMechanisms[auth.mechanism]; (want == "" && md["sasl"] != nil && got != "none") || (want != "" && got != want) {
				fail("%s trigger sasl: got %v, want %q for KAFKA_SASL_MECHANISM %q", so, md["sasl"], want, auth.mechanism)
			}
			if got := md["tls"] == "enable"; got != auth.tls {
				fail("%s trigger tls: got %v, want enable exactly when cm-api uses TLS (%v)", so, md["tls"], auth.tls)
			}
			ref, _ := trigger["authenticationRef"].(map[string]any)
			if auth.password == nil && auth.ca == nil {
				if ref != nil {
					fail("%s authenticationRef: got %v, want none (no credentials)", so, ref)
				}
				continue
			}
			ta, ok := b.get("keda.sh/v1alpha1", "TriggerAuthentication", fmt.Sprint(ref["name"]))
			if !ok {
				fail("%s authenticationRef: got %v, want a TriggerAuthentication in the bundle", so, ref)
				continue
			}
			errs = append(errs, checkTriggerAuth(ta, auth)...)
		}
	}
	return errs
}

// checkTriggerAuth compares a TriggerAuthentication with cm-api's settings.
func checkTriggerAuth(ta manifest, auth kafkaAuth) []error {
	got := map[string]string{}
	refs, _ := ta.obj["spec"].(map[string]any)["secretTargetRef"].([]any)
	for _, r := range refs {
		ref, _ := r.(map[string]any)
		got[fmt.Sprint(ref["parameter"])] = fmt.Sprintf("secret %v/%v", ref["name"], ref["key"])
	}
	envs, _ := ta.obj["spec"].(map[string]any)["env"].([]any)
	for _, e := range envs {
		ref, _ := e.(map[string]any)
		got[fmt.Sprint(ref["parameter"])] = fmt.Sprintf("env %v of %v", ref["name"], ref["containerName"])
	}
	want := map[string]string{}
	if auth.password != nil {
		want["username"] = "env KAFKA_SASL_USERNAME of cm-api"
		want["password"] = fmt.Sprintf("secret %s/%s", auth.password.Name, auth.password.Key)
	}
	if auth.ca != nil {
		want["ca"] = fmt.Sprintf("secret %s/%s", auth.ca.Name, auth.ca.Key)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return []error{fmt.Errorf("%s parameters: got %v, want %v (cm-api's own)", ta, got, want)}
	}
	return nil
}
