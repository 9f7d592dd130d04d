package manifest

import (
	"path/filepath"
	"strings"
	"testing"
)

// chartVariant is one set of values the chart must render valid manifests for.
type chartVariant struct {
	name    string
	mode    string // "knative" or "kubernetes"
	set     []string
	authOff bool // API keys switched off on purpose
}

// kafkaAuthValues switch on SCRAM over TLS with a private CA.
var kafkaAuthValues = []string{"kafka.auth.sasl.enabled=true", "kafka.auth.sasl.username=shop", "kafka.auth.tls.enabled=true"}

// shopperAuthValues turn on shoppers' OpenID Connect tokens with staff.
var shopperAuthValues = []string{"cmServer.shopperAuth.issuerURL=https://idp.example.com/realms/shop",
	"cmServer.shopperAuth.audience=scalable-shop", "cmServer.shopperAuth.usernameClaim=sub", "cmServer.shopperAuth.adminClaim=groups", "cmServer.shopperAuth.adminValue=support"}

// chartVariants switches each optional feature on, alone and together.
var chartVariants = []chartVariant{
	{name: "defaults", mode: "knative"},
	{name: "strimzi_kafka", mode: "knative", set: []string{"strimzi.enabled=true"}},
	{name: "strimzi_single_broker", mode: "knative", set: []string{"strimzi.enabled=true", "strimzi.replicas=1", "kafka.replicationFactor=1"}},
	{name: "mongodb_community", mode: "knative", set: []string{"mongodbCommunity.enabled=true"}},
	{name: "kafka_source_without_keda", mode: "knative", set: []string{"kafkaSource.keda.enabled=false"}},
	{name: "kafka_source_ordered", mode: "knative", set: []string{"kafkaSource.ordering=ordered"}},
	{name: "pinned_digests", mode: "knative", set: []string{
		"images.cmServer.digest=sha256:1111111111111111111111111111111111111111111111111111111111111111",
		"images.cmApi.digest=sha256:2222222222222222222222222222222222222222222222222222222222222222"}},
	{name: "all_dependencies", mode: "knative", set: []string{"strimzi.enabled=true", "mongodbCommunity.enabled=true"}},
	{name: "kubernetes_mode", mode: "kubernetes", set: []string{"mode=kubernetes"}},
	{name: "kubernetes_mode_all_dependencies", mode: "kubernetes", set: []string{"mode=kubernetes", "strimzi.enabled=true", "mongodbCommunity.enabled=true"}},
	{name: "kafka_sasl_tls", mode: "knative", set: kafkaAuthValues},
	{name: "kafka_sasl_plain_without_tls", mode: "knative", set: []string{"kafka.auth.sasl.enabled=true", "kafka.auth.sasl.username=shop", "kafka.auth.sasl.mechanism=PLAIN"}},
	{name: "kafka_tls_system_roots", mode: "knative", set: []string{"kafka.auth.tls.enabled=true", "kafka.auth.tls.caSecret.name="}},
	{name: "kafka_separate_secrets", mode: "knative", set: append([]string{"kafka.auth.sasl.passwordSecret.name=shop-kafka-user",
		"kafka.auth.tls.caSecret.name=my-cluster-cluster-ca-cert", "kafka.auth.knativeSecretName=shop-kafka-knative"}, kafkaAuthValues...)},
	{name: "kubernetes_mode_kafka_sasl_tls", mode: "kubernetes", set: append([]string{"mode=kubernetes"}, kafkaAuthValues...)},
	{name: "kubernetes_mode_kafka_tls_system_roots", mode: "kubernetes", set: []string{"mode=kubernetes", "kafka.auth.tls.enabled=true", "kafka.auth.tls.caSecret.name="}},
	{name: "api_keys_disabled", mode: "knative", set: []string{"cmServer.apiKeys.enabled=false"}, authOff: true},
	{name: "rate_limit_fractional", mode: "knative", set: []string{"cmServer.rateLimit.perSecond=0.5", "cmServer.rateLimit.burst=1"}},
	{name: "mongodb_credentials_secret", mode: "knative", set: []string{"mongodb.credentialsSecret.name=cm-api-mongodb-user", "mongodb.caSecret.name=cm-api-mongodb-ca"}},
	{name: "private_registry", mode: "knative", set: []string{"images.pullSecrets={ghcr-pull}"}},
	{name: "tracing", mode: "knative", set: tracingValues},
	{name: "kubernetes_mode_tracing", mode: "kubernetes", set: append([]string{"mode=kubernetes"}, tracingValues...)},
	{name: "sender_identity", mode: "knative", set: []string{"senderIdentity.enabled=true"}},
	{name: "shopper_tokens", mode: "knative", set: shopperAuthValues},
	{name: "shopper_tokens_jwks_kubernetes_mode", mode: "kubernetes", set: []string{"mode=kubernetes",
		"cmServer.shopperAuth.jwksURL=https://idp.example.com/keys", "cmServer.shopperAuth.issuer=https://idp.example.com", "cmServer.shopperAuth.audience=shop",
		"cmServer.shopperAuth.usernameClaim=sub"}},
	{name: "sender_identity_own_audience_and_issuer", mode: "knative", set: append([]string{"senderIdentity.enabled=true",
		"senderIdentity.audience=cm-api-events", "senderIdentity.issuerURL=https://oidc.example.com/cluster"}, kafkaAuthValues...)},
	{name: "kafka_user_per_component", mode: "knative", set: append([]string{"kafka.auth.sasl.userPerComponent=true"}, kafkaAuthValues...)},
	{name: "kubernetes_mode_kafka_user_per_component", mode: "kubernetes", set: append([]string{"mode=kubernetes", "kafka.auth.sasl.userPerComponent=true"}, kafkaAuthValues...)},
	{name: "kubernetes_mode_private_registry", mode: "kubernetes", set: []string{"mode=kubernetes", "images.pullSecrets={ghcr-pull,mirror-pull}"}},
	{name: "topics_job", mode: "knative", set: []string{"kafka.topicsJob.enabled=true"}},
	{name: "topics_job_sasl_tls", mode: "knative", set: append([]string{"kafka.topicsJob.enabled=true", "kafka.topicsJob.secret=kafka-admin"}, kafkaAuthValues...)},
	{name: "kubernetes_mode_topics_job", mode: "kubernetes", set: []string{"mode=kubernetes", "kafka.topicsJob.enabled=true"}},
	{name: "kubernetes_mode_everything_secured", mode: "kubernetes", set: append([]string{"mode=kubernetes", "cmServer.clientAddress.forwardedHops=1",
		"mongodb.credentialsSecret.name=cm-api-mongodb-user", "mongodb.caSecret.name=cm-api-mongodb-ca"}, kafkaAuthValues...)},
}

// TestHelmLint_passes runs `helm lint --strict` for the defaults and each variant.
func TestHelmLint_passes(t *testing.T) {
	t.Parallel()
	helm := helmBinary(t)
	chart := filepath.Join(repoRoot(t), "charts", "scalable-shop")
	for _, v := range chartVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"lint", "--strict", chart, "--namespace", testNamespace}
			for _, s := range v.set {
				args = append(args, "--set", s)
			}
			if out, err := runCommand(helm, args...); err != nil {
				t.Errorf("helm lint: got %v\n%s, want success", err, out)
			}
		})
	}
}

// TestHelmTemplate_rendersValidManifests validates every rendered document and
// the wiring between them, for each variant.
func TestHelmTemplate_rendersValidManifests(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	for _, variant := range chartVariants {
		t.Run(variant.name, func(t *testing.T) {
			t.Parallel()
			ms, err := helmTemplate(t, variant.set...)
			if err != nil {
				t.Fatalf("helm template: got %v, want success", err)
			}
			for _, m := range ms {
				if err := v.validate(m); err != nil {
					t.Errorf("validate: got %v, want no error", err)
				}
			}
			for _, err := range checkWiring(ms, variant.mode) {
				t.Errorf("wiring: got %v, want none", err)
			}
			for _, err := range checkPolicy(ms) {
				t.Errorf("policy: got %v, want none", err)
			}
			if !variant.authOff {
				for _, err := range checkSecureDefaults(ms) {
					t.Errorf("secure defaults: got %v, want none", err)
				}
			}
			for _, err := range checkEnvKnown(t, ms) {
				t.Errorf("env: got %v, want none", err)
			}
		})
	}
}

// TestHelmTemplate_rejectsBadValues checks that values.schema.json and the
// chart's own checks stop mistakes before anything reaches the cluster.
func TestHelmTemplate_rejectsBadValues(t *testing.T) {
	t.Parallel()
	helmBinary(t) // skip or fail early with the clear message
	tests := []struct {
		name string
		set  []string
		want string
	}{
		{name: "unknown_mode", set: []string{"mode=lambda"}, want: "mode"},
		{name: "typo_in_key", set: []string{"kafka.topics=orders"}, want: "topics"},
		{name: "negative_min_scale", set: []string{"cmServer.scaling.minScale=-1"}, want: "minScale"},
		{name: "delivery_timeout_not_iso8601", set: []string{"kafkaSource.delivery.timeout=10s"}, want: "timeout"},
		{name: "unknown_ordering", set: []string{"kafkaSource.ordering=random"}, want: "ordering"},
		{name: "replication_above_broker_count", set: []string{"strimzi.enabled=true", "strimzi.replicas=1"}, want: "replicationFactor"},
		{name: "more_consumers_than_partitions", set: []string{"kafkaSource.keda.maxScale=20"}, want: "partitions"},
		{name: "sasl_without_username", set: []string{"kafka.auth.sasl.enabled=true"}, want: "username"},
		{name: "unknown_sasl_mechanism", set: []string{"kafka.auth.sasl.mechanism=GSSAPI"}, want: "mechanism"},
		{name: "kafka_auth_with_strimzi", set: append([]string{"strimzi.enabled=true"}, kafkaAuthValues...), want: "leave it off with strimzi.enabled"},
		{name: "kafka_users_share_a_secret", set: []string{"strimzi.enabled=true", "kafka.users.source.secret=kafka-user-purchases-sink"}, want: "share Secret"},
		{name: "kafka_user_secret_is_strimzis", set: []string{"strimzi.enabled=true", "kafka.users.source.secret=strimzi-user-cm-api-source"}, want: "User Operator writes"},
		{name: "kafka_users_unknown_role", set: []string{"kafka.users.admin.name=root"}, want: "admin"},
		{name: "mongodb_credentials_with_operator_uri", set: []string{"mongodbCommunity.enabled=true", "mongodb.credentialsSecret.name=x"}, want: "credentialsSecret"},
		{name: "api_keys_secret_without_name", set: []string{"cmServer.apiKeys.secret.name="}, want: "name"},
		{name: "negative_rate_limit", set: []string{"cmServer.rateLimit.perSecond=-1"}, want: "perSecond"},
		{name: "zero_burst", set: []string{"cmServer.rateLimit.burst=0"}, want: "burst"},
		{name: "pull_secret_not_a_name", set: []string{"images.pullSecrets={Ghcr_Pull}"}, want: "pullSecrets"},
		{name: "forwarded_hops_not_a_number", set: []string{"cmServer.clientAddress.forwardedHops=yes"}, want: "forwardedHops"},
		{name: "trusted_proxy_not_a_network", set: []string{"cmServer.clientAddress.trustedProxies={pods}"}, want: "trustedProxies"},
		{name: "negative_request_rate_limit", set: []string{"cmServer.requestRateLimit.perSecond=-1"}, want: "perSecond"},
		{name: "issuer_without_username_claim", set: []string{"cmServer.shopperAuth.issuerURL=https://idp.example.com", "cmServer.shopperAuth.audience=shop"}, want: "usernameClaim is required"},
		{name: "cm_server_min_scale_above_max", set: []string{"cmServer.scaling.minScale=5", "cmServer.scaling.maxScale=2", "cmServer.scaling.initialScale=2"},
			want: "cmServer.scaling.minScale (5) exceeds cmServer.scaling.maxScale (2)"},
		{name: "cm_api_min_scale_above_max", set: []string{"cmApi.scaling.minScale=5", "cmApi.scaling.maxScale=2", "cmApi.scaling.initialScale=2"},
			want: "cmApi.scaling.minScale (5) exceeds cmApi.scaling.maxScale (2)"},
		{name: "cm_server_initial_scale_above_max", set: []string{"cmServer.scaling.initialScale=11"}, want: "cmServer.scaling.initialScale (11) is outside"},
		{name: "cm_api_initial_scale_below_min", set: []string{"cmApi.scaling.minScale=2"}, want: "cmApi.scaling.initialScale (1) is outside"},
		{name: "kafka_source_keda_min_above_max", set: []string{"kafkaSource.keda.minScale=5", "kafkaSource.keda.maxScale=2"},
			want: "kafkaSource.keda.minScale (5) exceeds kafkaSource.keda.maxScale (2)"},
		{name: "kafka_source_keda_min_above_max_while_off", set: []string{"kafkaSource.keda.enabled=false", "kafkaSource.keda.minScale=5", "kafkaSource.keda.maxScale=2"},
			want: "kafkaSource.keda.minScale"},
		{name: "shopper_issuer_without_audience", set: []string{"cmServer.shopperAuth.issuerURL=https://idp.example.com"}, want: "audience is required"},
		{name: "shopper_issuer_not_https", set: []string{"cmServer.shopperAuth.issuerURL=http://idp.example.com", "cmServer.shopperAuth.audience=shop"}, want: "issuerURL"},
		{name: "shopper_refresh_interval_not_a_duration", set: append(append([]string{}, shopperAuthValues...), "cmServer.shopperAuth.jwksRefreshInterval=10"), want: "jwksRefreshInterval"},
		{name: "shopper_jwks_without_issuer", set: []string{"cmServer.shopperAuth.jwksURL=https://idp.example.com/keys", "cmServer.shopperAuth.audience=shop"}, want: "needs issuer"},
		{name: "shopper_admin_claim_without_value", set: append(append([]string{}, shopperAuthValues...), "cmServer.shopperAuth.adminValue="), want: "adminClaim and adminValue together"},
		{name: "sender_identity_in_kubernetes_mode", set: []string{"mode=kubernetes", "senderIdentity.enabled=true"}, want: "only in knative mode"},
		{name: "sender_identity_issuer_not_https", set: []string{"senderIdentity.enabled=true", "senderIdentity.issuerURL=http://idp"}, want: "issuerURL"},
		{name: "cm_api_keda_min_above_max", set: []string{"mode=kubernetes", "cmApi.keda.minReplicas=5", "cmApi.keda.maxReplicas=2"},
			want: "cmApi.keda.minReplicas (5) exceeds cmApi.keda.maxReplicas (2)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := helmTemplate(t, tt.set...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("helm template --set %v: got error %v, want one mentioning %q", tt.set, err, tt.want)
			}
		})
	}
}

// TestHelmTemplate_pullSecretsOnEveryPod: images.pullSecrets reaches both
// functions' pods in both modes (Knative also resolves tags with them), and
// NOTES.txt tells how to create each Secret.
func TestHelmTemplate_pullSecretsOnEveryPod(t *testing.T) {
	t.Parallel()
	for _, v := range chartVariants {
		want := ""
		for _, s := range v.set {
			if list, ok := strings.CutPrefix(s, "images.pullSecrets="); ok {
				want = strings.Trim(list, "{}")
			}
		}
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			ms, err := helmTemplate(t, v.set...)
			if err != nil {
				t.Fatalf("helm template: got %v, want success", err)
			}
			ws, err := bundle(ms).workloads()
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range ws {
				var got []string
				for _, r := range w.pull {
					got = append(got, r.Name)
				}
				if strings.Join(got, ",") != want {
					t.Errorf("%s imagePullSecrets: got %v, want [%s]", w.m, got, want)
				}
			}
			if want == "" {
				return
			}
			notes, err := helmNotes(t, v.set...)
			if err != nil {
				t.Fatalf("render NOTES.txt: got %v, want success", err)
			}
			for _, name := range strings.Split(want, ",") {
				if !strings.Contains(notes, "create secret docker-registry "+name+" ") {
					t.Errorf("NOTES.txt: got no `kubectl create secret docker-registry %s`, want one\n%s", name, notes)
				}
			}
		})
	}
}
