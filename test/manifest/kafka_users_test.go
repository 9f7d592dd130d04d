package manifest

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
)

// A role is one component that talks to Kafka as a user of its own (chart
// values kafka.users.<role>). Knative mode: the two KafkaSinks' data plane and
// the KafkaSource; kubernetes mode: the two functions and KEDA's lag scaler.
const (
	roleCmServer      = "cmServer"
	roleCmAPI         = "cmApi"
	roleLagScaler     = "lagScaler"
	rolePurchasesSink = "purchasesSink"
	roleDLQSink       = "dlqSink"
	roleSource        = "source"
)

// acl is one allowed operation, "type:name:operation" (all literal patterns).
func acl(typ, name, op string) string { return typ + ":" + name + ":" + op }

// wantACLs is the exact set each role may do, least privilege. Producers need
// Write and Describe on their topic (idempotence needs no cluster
// IdempotentWrite from Kafka 3.0, KIP-679); consumers Read on the topic and
// their group; KEDA's lag scaler only describes the topic and the group.
func wantACLs(role, topic, dlq, group string) []string {
	write := []string{acl("topic", topic, "Describe"), acl("topic", topic, "Write")}
	writeDLQ := []string{acl("topic", dlq, "Describe"), acl("topic", dlq, "Write")}
	read := []string{acl("group", group, "Read"), acl("topic", topic, "Describe"), acl("topic", topic, "Read")}
	var out []string
	switch role {
	case roleCmServer, rolePurchasesSink:
		out = write
	case roleDLQSink:
		out = writeDLQ
	case roleSource:
		out = read
	case roleCmAPI:
		out = append(read, writeDLQ...)
	case roleLagScaler:
		out = []string{acl("group", group, "Describe"), acl("topic", topic, "Describe")}
	}
	sort.Strings(out)
	return out
}

// perComponentKafka reports whether the bundle gives each component a Kafka
// user of its own: the KafkaSinks read different Secrets (knative), or the
// functions read their passwords from different Secrets (kubernetes).
func perComponentKafka(b bundle, mode string) bool {
	if mode == "knative" {
		secrets := map[string]bool{}
		for _, sink := range b.all(kafkaSinkAPI, "KafkaSink") {
			if s := str(sink, "spec", "auth", "secret", "ref", "name"); s != "" {
				secrets[s] = true
			}
		}
		return len(secrets) > 1
	}
	var secrets [2]string
	for i, name := range []string{"cm-server", "cm-api"} {
		if w, err := b.workload(name); err == nil {
			auth, _ := kafkaAuthOf(b, w)
			secrets[i] = refName(auth)
		}
	}
	return secrets[0] != "" && secrets[1] != "" && secrets[0] != secrets[1]
}

// kafkaTopics are the topics and group the bundle uses.
type kafkaTopics struct{ topic, dlq, group string }

func topicsOf(b bundle, mode string) kafkaTopics {
	if mode == "kubernetes" {
		c := configData(b, "cm-api-config")
		return kafkaTopics{c["KAFKA_TOPIC"], c["KAFKA_DLQ_TOPIC"], c["KAFKA_CONSUMER_GROUP"]}
	}
	var k kafkaTopics
	if m, ok := b.get(kafkaSinkAPI, "KafkaSink", "purchases"); ok {
		k.topic = str(m, "spec", "topic")
	}
	if m, ok := b.get(kafkaSinkAPI, "KafkaSink", "purchases-dlq"); ok {
		k.dlq = str(m, "spec", "topic")
	}
	if m, ok := b.get(sourcesAPI, "KafkaSource", "cm-api-purchases"); ok {
		k.group = str(m, "spec", "consumerGroup")
	}
	return k
}

// principal is how one role reaches Kafka: its Secret and, for the functions,
// the user name in their environment.
type principal struct{ secret, user string }

// checkKafkaUsersWiring: with a user per component, each role reads its own
// Secret, every credential is a secretKeyRef into it, and nobody else holds
// Kafka credentials (cm-server in knative mode sends through the KafkaSink).
// It returns the principal of each role for checkKafkaUsers.
func checkKafkaUsersWiring(b bundle, mode string) (map[string]principal, []error) {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	got := map[string]principal{}
	server, err := b.workload("cm-server")
	if err != nil {
		return nil, []error{err}
	}
	serverAuth, e := kafkaAuthOf(b, server)
	errs = append(errs, e...)
	api, err := b.workload("cm-api")
	if err != nil {
		return nil, append(errs, err)
	}
	apiAuth, e := kafkaAuthOf(b, api)
	errs = append(errs, e...)
	if mode == "knative" {
		if serverAuth.mechanism != "" || serverAuth.password != nil || apiAuth.on() {
			fail("%s/%s: got Kafka users %v and %v, want none (the KafkaSinks and the KafkaSource have their own)", server.m, api.m, serverAuth, apiAuth)
		}
		for role, name := range map[string]string{rolePurchasesSink: "purchases", roleDLQSink: "purchases-dlq"} {
			sink, ok := b.get(kafkaSinkAPI, "KafkaSink", name)
			if !ok {
				fail("KafkaSink %s: got none, want it", name)
				continue
			}
			got[role] = principal{secret: str(sink, "spec", "auth", "secret", "ref", "name")}
		}
		for _, src := range b.all(sourcesAPI, "KafkaSource") {
			sasl, _, _ := nestedMap(src.obj, "spec", "net", "sasl")
			if enabled, _ := sasl["enable"].(bool); !enabled {
				fail("%s spec.net.sasl.enable: got false, want true (its own user)", src)
			}
			secret := ""
			for _, f := range []string{"type", "user", "password"} {
				ref, _, _ := nestedMap(src.obj, "spec", "net", "sasl", f, "secretKeyRef")
				if ref == nil {
					fail("%s spec.net.sasl.%s: got no secretKeyRef, want one (credentials only from Secrets)", src, f)
					continue
				}
				name, _ := ref["name"].(string)
				if secret == "" {
					secret = name
				}
				if name != secret {
					fail("%s spec.net.sasl.%s: got Secret %q, want %q like the other fields (one Secret per user)", src, f, name, secret)
				}
			}
			errs = append(errs, checkSecretRefs(src, []string{"spec", "net", "sasl"}, secret, map[string]string{"type": "sasl.mechanism", "user": "user", "password": "password"})...)
			got[roleSource] = principal{secret: secret}
		}
	} else {
		got[roleCmServer] = principal{secret: refName(serverAuth), user: serverAuth.username}
		got[roleCmAPI] = principal{secret: refName(apiAuth), user: apiAuth.username}
		for _, w := range []struct {
			w    workload
			auth kafkaAuth
		}{{server, serverAuth}, {api, apiAuth}} {
			if w.auth.password == nil || w.auth.password.Key != "password" {
				fail("%s KAFKA_SASL_PASSWORD: got %v, want a secretKeyRef to key password of its user's Secret", w.w.m, w.auth.password)
			}
		}
		lag, e := lagScalerPrincipal(b)
		errs = append(errs, e...)
		got[roleLagScaler] = lag
	}
	seen := map[string]string{}
	for role, p := range got {
		if p.secret == "" {
			fail("%s: got no Kafka Secret, want its own", role)
			continue
		}
		if other, dup := seen[p.secret]; dup {
			fail("%s and %s: both read Secret %s, want one per user", role, other, p.secret)
		}
		seen[p.secret] = role
	}
	return got, errs
}

func refName(k kafkaAuth) string {
	if k.password == nil {
		return ""
	}
	return k.password.Name
}

// lagScalerPrincipal reads KEDA's user: username and password both from one
// Secret of its own, in Knative's layout (keys user and password).
func lagScalerPrincipal(b bundle) (principal, []error) {
	tas := b.all("keda.sh/v1alpha1", "TriggerAuthentication")
	if len(tas) != 1 {
		return principal{}, []error{fmt.Errorf("TriggerAuthentications: got %d, want 1 for KEDA's lag scaler", len(tas))}
	}
	ta := tas[0]
	spec, _ := ta.obj["spec"].(map[string]any)
	if _, ok := spec["env"]; ok {
		return principal{}, []error{fmt.Errorf("%s env: got %v, want none (its own user, from its Secret)", ta, spec["env"])}
	}
	refs := map[string][2]string{}
	items, _ := spec["secretTargetRef"].([]any)
	for _, r := range items {
		ref, _ := r.(map[string]any)
		refs[fmt.Sprint(ref["parameter"])] = [2]string{fmt.Sprint(ref["name"]), fmt.Sprint(ref["key"])}
	}
	u, p := refs["username"], refs["password"]
	if u[1] != "user" || p[1] != "password" || u[0] != p[0] {
		return principal{}, []error{fmt.Errorf("%s secretTargetRef: got username %v password %v, want keys user and password of one Secret", ta, u, p)}
	}
	return principal{secret: u[0]}, nil
}

// checkKafkaUsers: the in-chart cluster authenticates every client with SCRAM
// and authorizes it with ACLs, and each role's KafkaUser takes its password
// from that role's Secret and may do exactly wantACLs, nothing more.
func checkKafkaUsers(b bundle, mode string, roles map[string]principal) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	clusters := b.all(strimziAPI, "Kafka")
	if len(clusters) == 0 {
		return nil
	}
	kafka := clusters[0]
	listeners, _ := at(kafka.obj, "spec", "kafka")["listeners"].([]any)
	for _, l := range listeners {
		listener, _ := l.(map[string]any)
		if auth, _ := listener["authentication"].(map[string]any); auth["type"] != "scram-sha-512" {
			fail("%s listener %v: got authentication %v, want scram-sha-512 (no anonymous clients)", kafka, listener["name"], listener["authentication"])
		}
	}
	if got := str(kafka, "spec", "kafka", "authorization", "type"); got != "simple" {
		fail("%s spec.kafka.authorization.type: got %q, want simple (ACLs)", kafka, got)
	}
	uo, ok, _ := nestedMap(kafka.obj, "spec", "entityOperator", "userOperator")
	if !ok {
		fail("%s entityOperator.userOperator: got none, want one (it turns KafkaUsers into credentials and ACLs)", kafka)
	}
	prefix, _ := uo["secretPrefix"].(string)
	byName := map[string]manifest{}
	for _, u := range b.all(strimziAPI, "KafkaUser") {
		byName[str(u, "spec", "authentication", "password", "valueFrom", "secretKeyRef", "name")] = u
		if labels(u)["strimzi.io/cluster"] != kafka.name() {
			fail("%s strimzi.io/cluster: got %q, want %q", u, labels(u)["strimzi.io/cluster"], kafka.name())
		}
	}
	if len(byName) != len(roles) || len(b.all(strimziAPI, "KafkaUser")) != len(roles) {
		fail("KafkaUsers: got %d (by password Secret %v), want exactly one per role %v", len(b.all(strimziAPI, "KafkaUser")), keys(byName), roles)
	}
	k := topicsOf(b, mode)
	for role, p := range roles {
		u, ok := byName[p.secret]
		if !ok {
			fail("%s: got no KafkaUser whose password comes from its Secret %s, want one", role, p.secret)
			continue
		}
		if got := str(u, "spec", "authentication", "type"); got != "scram-sha-512" {
			fail("%s spec.authentication.type: got %q, want scram-sha-512", u, got)
		}
		if got := str(u, "spec", "authentication", "password", "valueFrom", "secretKeyRef", "key"); got != "password" {
			fail("%s password secretKeyRef key: got %q, want password (Knative's key)", u, got)
		}
		if p.user != "" && p.user != u.name() {
			fail("%s: the function authenticates as %q, want the KafkaUser's name %q", role, p.user, u.name())
		}
		if prefix+u.name() == p.secret {
			fail("%s: its Secret %s is the one the User Operator writes for %s, want another", role, p.secret, u.name())
		}
		got, aclErrs := aclsOf(u)
		errs = append(errs, aclErrs...)
		if want := wantACLs(role, k.topic, k.dlq, k.group); !slices.Equal(got, want) {
			fail("%s (%s) ACLs: got %v, want exactly %v", u, role, got, want)
		}
		errs = append(errs, leastPrivilege(u, role, got, k)...)
	}
	return errs
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// aclsOf lists a KafkaUser's allow rules as sorted acl strings; a deny rule,
// a prefix pattern or a host other than "*" is an error.
func aclsOf(u manifest) ([]string, []error) {
	var out []string
	var errs []error
	if got := str(u, "spec", "authorization", "type"); got != "simple" {
		errs = append(errs, fmt.Errorf("%s spec.authorization.type: got %q, want simple", u, got))
	}
	rules, _ := at(u.obj, "spec", "authorization")["acls"].([]any)
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		res, _ := rule["resource"].(map[string]any)
		if t, ok := rule["type"]; ok && t != "allow" {
			errs = append(errs, fmt.Errorf("%s rule %v: got type %v, want allow", u, rule, t))
		}
		if pt, ok := res["patternType"]; ok && pt != "literal" {
			errs = append(errs, fmt.Errorf("%s rule %v: got patternType %v, want literal", u, rule, pt))
		}
		if h, ok := rule["host"]; ok && h != "*" {
			errs = append(errs, fmt.Errorf("%s rule %v: got host %v, want *", u, rule, h))
		}
		ops, _ := rule["operations"].([]any)
		for _, op := range ops {
			out = append(out, acl(fmt.Sprint(res["type"]), fmt.Sprint(res["name"]), fmt.Sprint(op)))
		}
	}
	sort.Strings(out)
	return out, errs
}

// leastPrivilege spells out what the exact sets imply, so a failure says
// which boundary broke: writers do not read, readers do not write the
// purchases topic, nobody holds All, cluster rights or a wildcard.
func leastPrivilege(u manifest, role string, got []string, k kafkaTopics) []error {
	var errs []error
	has := func(a string) bool { return slices.Contains(got, a) }
	switch role {
	case roleCmServer, rolePurchasesSink, roleDLQSink:
		if has(acl("topic", k.topic, "Read")) || has(acl("topic", k.dlq, "Read")) || has(acl("group", k.group, "Read")) {
			errs = append(errs, fmt.Errorf("%s (%s, a writer): got Read in %v, want none", u, role, got))
		}
	case roleSource, roleCmAPI, roleLagScaler:
		if has(acl("topic", k.topic, "Write")) {
			errs = append(errs, fmt.Errorf("%s (%s, a reader): got Write on %s, want none (only cm-server's path writes purchases)", u, role, k.topic))
		}
	}
	if role == roleLagScaler && (has(acl("topic", k.topic, "Read")) || has(acl("group", k.group, "Read"))) {
		errs = append(errs, fmt.Errorf("%s (KEDA): got Read in %v, want Describe only", u, got))
	}
	for _, a := range got {
		if strings.HasPrefix(a, "cluster:") || strings.HasSuffix(a, ":All") || strings.Contains(a, ":*:") {
			errs = append(errs, fmt.Errorf("%s (%s): got %s, want no cluster rights, All or wildcard", u, role, a))
		}
	}
	return errs
}

// TestKafkaUsers_exactACLsPerPrincipal spells out, with literal names, what
// each of the in-chart cluster's users may do in each mode, and that each
// component reads the Secret its KafkaUser takes the password from.
func TestKafkaUsers_exactACLsPerPrincipal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode    string
		want    map[string][]string // KafkaUser -> ACLs
		secrets map[string]string   // KafkaUser -> the Secret its component reads
	}{
		{"knative", map[string][]string{
			"purchases-sink":     {"topic:purchases:Describe", "topic:purchases:Write"},
			"purchases-dlq-sink": {"topic:purchases-dlq:Describe", "topic:purchases-dlq:Write"},
			"cm-api-source":      {"group:cm-api:Read", "topic:purchases:Describe", "topic:purchases:Read"},
		}, map[string]string{"purchases-sink": "kafka-user-purchases-sink", "purchases-dlq-sink": "kafka-user-purchases-dlq-sink", "cm-api-source": "kafka-user-cm-api-source"}},
		{"kubernetes", map[string][]string{
			"cm-server":  {"topic:purchases:Describe", "topic:purchases:Write"},
			"cm-api":     {"group:cm-api:Read", "topic:purchases-dlq:Describe", "topic:purchases-dlq:Write", "topic:purchases:Describe", "topic:purchases:Read"},
			"cm-api-lag": {"group:cm-api:Describe", "topic:purchases:Describe"},
		}, map[string]string{"cm-server": "kafka-user-cm-server", "cm-api": "kafka-user-cm-api", "cm-api-lag": "kafka-user-cm-api-lag"}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			t.Parallel()
			ms, err := helmTemplate(t, "strimzi.enabled=true", "mode="+tt.mode)
			if err != nil {
				t.Fatalf("helm template: got %v, want success", err)
			}
			b := bundle(ms)
			got := map[string][]string{}
			for _, u := range b.all(strimziAPI, "KafkaUser") {
				got[u.name()], _ = aclsOf(u)
				if s := str(u, "spec", "authentication", "password", "valueFrom", "secretKeyRef", "name"); s != tt.secrets[u.name()] {
					t.Errorf("%s password: got Secret %q, want %q", u, s, tt.secrets[u.name()])
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("ACLs: got %v, want %v", got, tt.want)
			}
			roles, errs := checkKafkaUsersWiring(b, tt.mode)
			errs = append(errs, checkKafkaUsers(b, tt.mode, roles)...)
			for _, err := range errs {
				t.Errorf("wiring: got %v, want none", err)
			}
			var wired []string
			for _, p := range roles {
				wired = append(wired, p.secret)
			}
			sort.Strings(wired)
			if want := keysSortedValues(tt.secrets); fmt.Sprint(wired) != fmt.Sprint(want) {
				t.Errorf("Secrets the components read: got %v, want %v", wired, want)
			}
		})
	}
}

func keysSortedValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// TestKafkaUsers_checksBite proves the user checks catch a widened ACL, a
// shared or plain credential and an open listener.
func TestKafkaUsers_checksBite(t *testing.T) {
	t.Parallel()
	addOp := func(resType, name, op string) func(map[string]any) {
		return func(o map[string]any) {
			acls := at(o, "spec", "authorization")["acls"].([]any)
			at(o, "spec", "authorization")["acls"] = append(acls, map[string]any{
				"resource": map[string]any{"type": resType, "name": name, "patternType": "literal"}, "operations": []any{op}})
		}
	}
	env := func(o map[string]any) []any { return at(o, "spec", "template", "spec", "containers", 0)["env"].([]any) }
	tests := []struct {
		name, mode, kind, object string
		edit                     func(map[string]any)
		want                     string
	}{
		{"sink_user_reads", "knative", "KafkaUser", "purchases-sink", addOp("topic", "purchases", "Read"), "a writer"},
		{"source_user_writes", "knative", "KafkaUser", "cm-api-source", addOp("topic", "purchases", "Write"), "a reader"},
		{"dlq_user_writes_purchases", "knative", "KafkaUser", "purchases-dlq-sink", addOp("topic", "purchases", "Write"), "want exactly"},
		{"user_gets_all_on_cluster", "knative", "KafkaUser", "cm-api-source", addOp("cluster", "kafka-cluster", "All"), "no cluster rights"},
		{"prefix_pattern", "knative", "KafkaUser", "purchases-sink", func(o map[string]any) {
			at(o, "spec", "authorization", "acls", 0, "resource")["patternType"] = "prefix"
		}, "literal"},
		{"sinks_share_a_secret", "knative", "KafkaSink", "purchases", func(o map[string]any) {
			at(o, "spec", "auth", "secret", "ref")["name"] = "kafka-user-cm-api-source"
		}, "both read Secret"},
		{"source_password_not_from_secret", "knative", "KafkaSource", "cm-api-purchases", func(o map[string]any) {
			at(o, "spec", "net", "sasl")["password"] = map[string]any{}
		}, "secretKeyRef"},
		{"listener_without_authentication", "knative", "Kafka", "my-cluster", func(o map[string]any) {
			delete(at(o, "spec", "kafka", "listeners", 0), "authentication")
		}, "scram-sha-512"},
		{"no_authorization", "knative", "Kafka", "my-cluster", func(o map[string]any) { delete(at(o, "spec", "kafka"), "authorization") }, "simple"},
		{"lag_scaler_reads", "kubernetes", "KafkaUser", "cm-api-lag", addOp("group", "cm-api", "Read"), "Describe only"},
		{"cm_api_writes_purchases", "kubernetes", "KafkaUser", "cm-api", addOp("topic", "purchases", "Write"), "a reader"},
		{"cm_server_password_literal", "kubernetes", "Deployment", "cm-server", func(o map[string]any) {
			for i, e := range env(o) {
				if e.(map[string]any)["name"] == "KAFKA_SASL_PASSWORD" {
					env(o)[i] = map[string]any{"name": "KAFKA_SASL_PASSWORD", "value": "hunter2"}
				}
			}
		}, "from a Secret"},
		{"cm_api_user_name_differs", "kubernetes", "KafkaUser", "cm-api", func(o map[string]any) { at(o, "metadata")["name"] = "shop" }, "authenticates as"},
	}
	rendered := map[string][]manifest{}
	for _, mode := range []string{"knative", "kubernetes"} {
		ms, err := helmTemplate(t, "strimzi.enabled=true", "mode="+mode)
		if err != nil {
			t.Fatalf("helm template: got %v, want success", err)
		}
		if errs := checkKafkaAuthWiring(bundle(ms), mode); len(errs) > 0 {
			t.Fatalf("%s unbroken: got %v, want none", mode, errs)
		}
		rendered[mode] = ms
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := errors.Join(checkKafkaAuthWiring(bundle(mutated(t, rendered[tt.mode], tt.kind, tt.object, tt.edit)), tt.mode)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("checks: got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}
