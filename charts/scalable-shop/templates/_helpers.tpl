{{/*
Labels every resource carries: the stable component labels that config/ uses
too, plus Helm's bookkeeping labels.
Call with (dict "ctx" $ "name" "cm-server" "component" "storefront").
*/}}
{{- define "scalable-shop.componentLabelMap" -}}
{{- $l := dict "app.kubernetes.io/part-of" "scalable-shop" -}}
{{- with .name }}{{ $_ := set $l "app.kubernetes.io/name" . }}{{ end -}}
{{- with .component }}{{ $_ := set $l "app.kubernetes.io/component" . }}{{ end -}}
{{- toYaml $l -}}
{{- end }}

{{- define "scalable-shop.componentLabels" -}}
{{- include "scalable-shop.componentLabelMap" . -}}
{{- end }}

{{- define "scalable-shop.labels" -}}
{{- $l := include "scalable-shop.componentLabelMap" . | fromYaml -}}
{{- $_ := set $l "app.kubernetes.io/instance" .ctx.Release.Name -}}
{{- $_ := set $l "app.kubernetes.io/managed-by" .ctx.Release.Service -}}
{{- $_ := set $l "app.kubernetes.io/version" .ctx.Chart.AppVersion -}}
{{- $_ := set $l "helm.sh/chart" (printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_") -}}
{{- toYaml $l -}}
{{- end }}

{{- define "scalable-shop.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- end }}

{{/*
Image reference. A ko:// repository passes through for `ko resolve`.
Call with (dict "ctx" $ "image" .Values.images.cmServer).
*/}}
{{- define "scalable-shop.image" -}}
{{- $repo := .image.repository -}}
{{- if hasPrefix "ko://" $repo -}}
{{ $repo }}
{{- else if .image.digest -}}
{{ printf "%s@%s" $repo .image.digest }}
{{- else -}}
{{ printf "%s:%s" $repo (default .ctx.Chart.AppVersion .image.tag) }}
{{- end -}}
{{- end }}

{{/* Kafka bootstrap servers, comma-separated. */}}
{{- define "scalable-shop.bootstrapServers" -}}
{{- if .Values.strimzi.enabled -}}
{{ printf "%s-kafka-bootstrap.%s:9092" .Values.strimzi.clusterName .Release.Namespace }}
{{- else -}}
{{ .Values.kafka.bootstrapServers }}
{{- end -}}
{{- end }}

{{/* Kafka bootstrap servers as a YAML list. */}}
{{- define "scalable-shop.bootstrapServerList" -}}
{{- range splitList "," (include "scalable-shop.bootstrapServers" .) }}
- {{ trim . }}
{{- end }}
{{- end }}

{{/* The Secret and key that hold MONGODB_URI. */}}
{{- define "scalable-shop.mongoSecretName" -}}
{{- if .Values.mongodbCommunity.enabled -}}
{{ printf "%s-%s-uri" .Values.mongodbCommunity.name .Values.mongodbCommunity.user }}
{{- else -}}
{{ .Values.mongodb.uriSecret.name }}
{{- end -}}
{{- end }}

{{- define "scalable-shop.mongoSecretKey" -}}
{{- if .Values.mongodbCommunity.enabled -}}
connectionString.standard
{{- else -}}
{{ .Values.mongodb.uriSecret.key }}
{{- end -}}
{{- end }}

{{/* Whether any Kafka authentication or encryption is on ("true" or ""):
always with the in-chart Strimzi cluster, which takes SCRAM only. */}}
{{- define "scalable-shop.kafkaAuth" -}}
{{- if or .Values.strimzi.enabled .Values.kafka.auth.sasl.enabled .Values.kafka.auth.tls.enabled }}true{{ end -}}
{{- end }}

{{/* The SASL mechanism towards Kafka, "" for none. */}}
{{- define "scalable-shop.kafkaMechanism" -}}
{{- if .Values.strimzi.enabled -}}
SCRAM-SHA-512
{{- else if .Values.kafka.auth.sasl.enabled -}}
{{ .Values.kafka.auth.sasl.mechanism }}
{{- end -}}
{{- end }}

{{/* Whether each component has its own Kafka user from kafka.users ("true"
or ""): always with strimzi.enabled, whose KafkaUsers they are. */}}
{{- define "scalable-shop.kafkaUserPerComponent" -}}
{{- if or .Values.strimzi.enabled (and .Values.kafka.auth.sasl.enabled .Values.kafka.auth.sasl.userPerComponent) }}true{{ end -}}
{{- end }}

{{/*
The Kafka user a function authenticates as, as JSON {"name", "secret", "key"}
(the password's Secret and key), or {} for none. Call with
(dict "ctx" $ "component" "cmServer"|"cmApi"). With a user per component,
cm-server has none in knative mode: it sends through the KafkaSink, whose
own user writes the topic.
*/}}
{{- define "scalable-shop.kafkaFunctionUser" -}}
{{- $v := .ctx.Values -}}
{{- if include "scalable-shop.kafkaUserPerComponent" .ctx -}}
{{- if and (eq .component "cmServer") (eq $v.mode "knative") -}}
{}
{{- else -}}
{{- $u := get $v.kafka.users .component -}}
{{- toJson (dict "name" $u.name "secret" $u.secret "key" "password") -}}
{{- end -}}
{{- else if $v.kafka.auth.sasl.enabled -}}
{{- with $v.kafka.auth.sasl -}}
{{- toJson (dict "name" .username "secret" .passwordSecret.name "key" .passwordSecret.key) -}}
{{- end -}}
{{- else -}}
{}
{{- end -}}
{{- end }}

{{/*
The Secret in Knative's layout that a KafkaSink or the KafkaSource reads, ""
for none. Call with (dict "ctx" $ "component" "purchasesSink"|"dlqSink"|"source").
*/}}
{{- define "scalable-shop.kafkaKnativeSecret" -}}
{{- if include "scalable-shop.kafkaUserPerComponent" .ctx -}}
{{ (get .ctx.Values.kafka.users .component).secret }}
{{- else if include "scalable-shop.kafkaAuth" .ctx -}}
{{ .ctx.Values.kafka.auth.knativeSecretName }}
{{- end -}}
{{- end }}

{{/* The prefix of the Secrets Strimzi's User Operator writes per KafkaUser. */}}
{{- define "scalable-shop.strimziUserSecretPrefix" -}}strimzi-user-{{- end }}

{{/* Where the Kafka and MongoDB CA bundles are mounted (read-only). */}}
{{- define "scalable-shop.kafkaCADir" -}}/etc/scalable-shop/kafka-ca{{- end }}
{{- define "scalable-shop.mongoCADir" -}}/etc/scalable-shop/mongodb-ca{{- end }}

{{/*
ConfigMap entries for a function that talks to Kafka: the SASL mechanism and
user and the TLS switch. The password is never here (see kafkaAuthEnv).
Call with (dict "ctx" $ "component" "cmServer"|"cmApi").
*/}}
{{- define "scalable-shop.kafkaAuthConfig" -}}
{{- $u := include "scalable-shop.kafkaFunctionUser" . | fromJson }}
{{- if $u.name }}
KAFKA_SASL_MECHANISM: {{ include "scalable-shop.kafkaMechanism" .ctx | quote }}
KAFKA_SASL_USERNAME: {{ $u.name | quote }}
{{- end }}
{{- with .ctx.Values.kafka.auth }}
{{- if .tls.enabled }}
KAFKA_TLS: "true"
{{- if .tls.caSecret.name }}
KAFKA_TLS_CA_FILE: {{ printf "%s/ca.crt" (include "scalable-shop.kafkaCADir" $.ctx) | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
ConfigMap entries for tracing (docs/operations.md#tracing): the standard
OpenTelemetry variables, only when tracing.otlpEndpoint is set, so that by
default nothing is exported.
*/}}
{{- define "scalable-shop.tracingConfig" -}}
{{- with .Values.tracing }}
{{- if .otlpEndpoint }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ .otlpEndpoint | quote }}
{{- with .sampler }}
OTEL_TRACES_SAMPLER: {{ . | quote }}
{{- end }}
{{- with .samplerArg }}
OTEL_TRACES_SAMPLER_ARG: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* Container env entries with the Kafka password, from its Secret. Call
with (dict "ctx" $ "component" "cmServer"|"cmApi"). */}}
{{- define "scalable-shop.kafkaAuthEnv" -}}
{{- $u := include "scalable-shop.kafkaFunctionUser" . | fromJson }}
{{- if $u.name }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $u.secret }}
      key: {{ $u.key }}
{{- end }}
{{- end }}

{{/* cm-server's secret env entries: the API keys and the Kafka password. */}}
{{- define "scalable-shop.cmServerEnv" -}}
{{- with .Values.cmServer.apiKeys }}
{{- if .enabled }}
- name: API_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ .secret.name }}
      key: {{ .secret.key }}
{{- end }}
{{- end }}
{{- include "scalable-shop.kafkaAuthEnv" (dict "ctx" . "component" "cmServer") }}
{{- if .Values.readIdentity.enabled }}
- name: CM_API_TOKEN_FILE
  value: {{ include "scalable-shop.cmApiTokenDir" . }}/token
{{- end }}
{{- end }}

{{/* cm-api's MongoDB env entries: the URI and, optionally, the credentials. */}}
{{- define "scalable-shop.mongoEnv" -}}
- name: MONGODB_URI
  valueFrom:
    secretKeyRef:
      name: {{ include "scalable-shop.mongoSecretName" . }}
      key: {{ include "scalable-shop.mongoSecretKey" . }}
{{- with .Values.mongodb.credentialsSecret }}
{{- if .name }}
- name: MONGODB_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ .name }}
      key: {{ .usernameKey }}
- name: MONGODB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .name }}
      key: {{ .passwordKey }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Read-only CA bundles from Secrets: volumeMounts and volumes. Call with
(dict "ctx" $ "kafka" true|false "mongo" true|false) for which ones the
container may need; each is rendered only when its Secret is configured.
*/}}
{{- define "scalable-shop.caVolumeList" -}}
{{- $v := .ctx.Values -}}
{{- $out := list -}}
{{- if and .kafka $v.kafka.auth.tls.enabled $v.kafka.auth.tls.caSecret.name -}}
{{- $out = append $out (dict "name" "kafka-ca" "dir" (include "scalable-shop.kafkaCADir" .ctx) "secret" $v.kafka.auth.tls.caSecret) -}}
{{- end -}}
{{- if and .mongo $v.mongodb.caSecret.name -}}
{{- $out = append $out (dict "name" "mongodb-ca" "dir" (include "scalable-shop.mongoCADir" .ctx) "secret" $v.mongodb.caSecret) -}}
{{- end -}}
{{- toJson $out -}}
{{- end }}

{{- define "scalable-shop.caVolumeMounts" -}}
{{- range include "scalable-shop.caVolumeList" . | fromJsonArray }}
- name: {{ .name }}
  mountPath: {{ .dir }}
  readOnly: true
{{- end }}
{{- end }}

{{- define "scalable-shop.caVolumes" -}}
{{- range include "scalable-shop.caVolumeList" . | fromJsonArray }}
- name: {{ .name }}
  secret:
    secretName: {{ .secret.name }}
    items:
      - key: {{ .secret.key }}
        path: ca.crt
{{- end }}
{{- end }}

{{/* FORWARDED_FOR_HOPS: auto = 3 behind Knative (ingress, activator, queue-proxy), else 0. */}}
{{- define "scalable-shop.forwardedHops" -}}
{{- $v := .Values.cmServer.clientAddress.forwardedHops -}}
{{- if eq (toString $v) "auto" -}}
{{ ternary 3 0 (eq .Values.mode "knative") }}
{{- else -}}
{{ $v }}
{{- end -}}
{{- end }}

{{/* Whether KEDA needs a TriggerAuthentication: a password or a CA to read. */}}
{{- define "scalable-shop.kedaAuth" -}}
{{- with .Values.kafka.auth }}
{{- if or (include "scalable-shop.kafkaMechanism" $) (and .tls.enabled .tls.caSecret.name) }}true{{ end }}
{{- end }}
{{- end }}

{{/* KEDA's name for a SASL mechanism. */}}
{{- define "scalable-shop.kedaSASL" -}}
{{- get (dict "PLAIN" "plaintext" "SCRAM-SHA-256" "scram_sha256" "SCRAM-SHA-512" "scram_sha512") . -}}
{{- end }}

{{/* cm-api's in-cluster URL: the same in both modes. */}}
{{- define "scalable-shop.cmApiURL" -}}
{{ printf "http://cm-api.%s.svc.cluster.local" .Release.Namespace }}
{{- end }}

{{/* The pods' imagePullSecrets, when images.pullSecrets names any. */}}
{{- define "scalable-shop.imagePullSecrets" -}}
{{- with .Values.images.pullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end }}

{{/* Restricted container security context (Pod Security "restricted"). */}}
{{- define "scalable-shop.securityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Probes. For Knative (port false) the readiness probe has no periodSeconds, so
Knative probes aggressively during start-up; it then allows no timeout or
threshold either. Deployments name the port and probe every 5s.
Call with (dict "port" true|false).
*/}}
{{- define "scalable-shop.probes" -}}
readinessProbe:
  httpGet:
    path: /readyz
    {{- if .port }}
    port: http
  periodSeconds: 5
  timeoutSeconds: 2
  failureThreshold: 3
    {{- end }}
livenessProbe:
  httpGet:
    path: /healthz
    {{- if .port }}
    port: http
    {{- end }}
  periodSeconds: 10
  timeoutSeconds: 2
  failureThreshold: 3
{{- end }}

{{/* KPA annotations for a revision template. Call with a scaling values block. */}}
{{- define "scalable-shop.kpaAnnotations" -}}
autoscaling.knative.dev/class: kpa.autoscaling.knative.dev
autoscaling.knative.dev/metric: {{ .metric }}
autoscaling.knative.dev/target: {{ .target | quote }}
autoscaling.knative.dev/min-scale: {{ .minScale | quote }}
autoscaling.knative.dev/max-scale: {{ .maxScale | quote }}
autoscaling.knative.dev/initial-scale: {{ .initialScale | quote }}
{{- end }}

{{/* Render-time checks of combinations the schema cannot express. */}}
{{- define "scalable-shop.checks" -}}
{{- with .Values.cmServer.shopperAuth }}
{{- if and .issuerURL .jwksURL }}
{{- fail "cmServer.shopperAuth: set issuerURL or jwksURL, not both" }}
{{- end }}
{{- if and .jwksURL (not .issuer) }}
{{- fail "cmServer.shopperAuth.jwksURL needs issuer (the iss the tokens carry)" }}
{{- end }}
{{- if and (or .issuerURL .jwksURL) (not .audience) }}
{{- fail "cmServer.shopperAuth.audience is required with an issuer" }}
{{- end }}
{{- if ne (empty .adminClaim) (empty .adminValue) }}
{{- fail "cmServer.shopperAuth: set adminClaim and adminValue together" }}
{{- end }}
{{- end }}
{{- if and .Values.senderIdentity.enabled (ne .Values.mode "knative") }}
{{- fail "senderIdentity.enabled: only in knative mode (in kubernetes mode cm-api reads Kafka itself; no KafkaSource sends it events)" }}
{{- end }}
{{- if and .Values.strimzi.enabled (gt (int .Values.kafka.replicationFactor) (int .Values.strimzi.replicas)) }}
{{- fail (printf "kafka.replicationFactor (%v) exceeds strimzi.replicas (%v)" .Values.kafka.replicationFactor .Values.strimzi.replicas) }}
{{- end }}
{{- if and (eq .Values.mode "knative") .Values.kafkaSource.keda.enabled (gt (int .Values.kafkaSource.keda.maxScale) (int .Values.kafka.partitions)) }}
{{- fail (printf "kafkaSource.keda.maxScale (%v) exceeds kafka.partitions (%v): extra consumers would idle" .Values.kafkaSource.keda.maxScale .Values.kafka.partitions) }}
{{- end }}
{{- if and (eq .Values.mode "kubernetes") (gt (int .Values.cmApi.keda.maxReplicas) (int .Values.kafka.partitions)) }}
{{- fail (printf "cmApi.keda.maxReplicas (%v) exceeds kafka.partitions (%v): extra consumers would idle" .Values.cmApi.keda.maxReplicas .Values.kafka.partitions) }}
{{- end }}
{{- range $fn := list "cmServer" "cmApi" }}
{{- with (get $.Values $fn).scaling }}
{{- if gt (int .minScale) (int .maxScale) }}
{{- fail (printf "%s.scaling.minScale (%v) exceeds %s.scaling.maxScale (%v)" $fn .minScale $fn .maxScale) }}
{{- end }}
{{- if or (lt (int .initialScale) (int .minScale)) (gt (int .initialScale) (int .maxScale)) }}
{{- fail (printf "%s.scaling.initialScale (%v) is outside %s.scaling.minScale..maxScale (%v..%v)" $fn .initialScale $fn .minScale .maxScale) }}
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.kafkaSource.keda }}
{{- if gt (int .minScale) (int .maxScale) }}
{{- fail (printf "kafkaSource.keda.minScale (%v) exceeds kafkaSource.keda.maxScale (%v)" .minScale .maxScale) }}
{{- end }}
{{- end }}
{{- if gt (int .Values.cmApi.keda.minReplicas) (int .Values.cmApi.keda.maxReplicas) }}
{{- fail (printf "cmApi.keda.minReplicas (%v) exceeds cmApi.keda.maxReplicas (%v)" .Values.cmApi.keda.minReplicas .Values.cmApi.keda.maxReplicas) }}
{{- end }}
{{- with .Values.kafka.auth.sasl }}
{{- if and .enabled (not .username) (not .userPerComponent) }}
{{- fail "kafka.auth.sasl.enabled needs kafka.auth.sasl.username, or userPerComponent with kafka.users" }}
{{- end }}
{{- end }}
{{- if and .Values.strimzi.enabled (or .Values.kafka.auth.sasl.enabled .Values.kafka.auth.tls.enabled) }}
{{- fail "kafka.auth: leave it off with strimzi.enabled; the in-chart Strimzi cluster always takes SCRAM-SHA-512 with a user per component (kafka.users), over its plain internal listener" }}
{{- end }}
{{- if include "scalable-shop.kafkaUserPerComponent" . }}
{{- $seen := dict }}
{{- range $role, $u := .Values.kafka.users }}
{{- if hasKey $seen $u.secret }}
{{- fail (printf "kafka.users: %s and %s share Secret %s; each component needs its own" (get $seen $u.secret) $role $u.secret) }}
{{- end }}
{{- $_ := set $seen $u.secret $role }}
{{- if and $.Values.strimzi.enabled (eq $u.secret (printf "%s%s" (include "scalable-shop.strimziUserSecretPrefix" $) $u.name)) }}
{{- fail (printf "kafka.users.%s.secret: %s is the Secret Strimzi's User Operator writes for user %s; name another" $role $u.secret $u.name) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.mongodbCommunity.enabled .Values.mongodb.credentialsSecret.name }}
{{- fail "mongodb.credentialsSecret: with mongodbCommunity.enabled the operator's connection string already carries cm-api's credentials; leave it empty" }}
{{- end }}
{{- end }}

{{/* The audience of cm-api's sender-identity tokens. */}}
{{- define "scalable-shop.eventsAudience" -}}
{{- .Values.senderIdentity.audience | default (printf "serving.knative.dev/service/%s/cm-api" .Release.Namespace) -}}
{{- end }}

{{/* The subject of the KafkaSource's OIDC service account, named as
knative.dev/eventing pkg/auth/serviceaccount.go GetOIDCServiceAccountNameForResource
does: <name>-oidc-<group>-<kind>, lower case (short enough that kmeta.ChildName
keeps it whole). */}}
{{- define "scalable-shop.sourceSubject" -}}
{{- printf "system:serviceaccount:%s:cm-api-purchases-oidc-sources.knative.dev-kafkasource" .Release.Namespace -}}
{{- end }}

{{/* cm-api's sender-identity env entries (knative mode, senderIdentity.enabled). */}}
{{- define "scalable-shop.senderIdentityEnv" -}}
{{- if .Values.senderIdentity.enabled }}
- name: EVENTS_AUDIENCE
  value: {{ include "scalable-shop.eventsAudience" . | quote }}
- name: EVENTS_ALLOWED_SUBJECTS
  value: {{ include "scalable-shop.sourceSubject" . | quote }}
{{- with .Values.senderIdentity.issuerURL }}
- name: EVENTS_ISSUER_URL
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* The subject of cm-server's service account (readIdentity). */}}
{{- define "scalable-shop.serverSubject" -}}
{{- printf "system:serviceaccount:%s:cm-server" .Release.Namespace -}}
{{- end }}

{{/* Where cm-server reads its token for cm-api (readIdentity). */}}
{{- define "scalable-shop.cmApiTokenDir" -}}
/var/run/secrets/scalable-shop/cm-api
{{- end }}

{{/* cm-api's read-identity env entries (readIdentity.enabled). */}}
{{- define "scalable-shop.readIdentityEnv" -}}
{{- if .Values.readIdentity.enabled }}
- name: READS_AUDIENCE
  value: {{ .Values.readIdentity.audience | quote }}
- name: READS_ALLOWED_SUBJECTS
  value: {{ include "scalable-shop.serverSubject" . | quote }}
{{- with .Values.readIdentity.issuerURL }}
- name: READS_ISSUER_URL
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* cm-server's identity for cm-api: a projected token of its own
ServiceAccount for cm-api's audience, which the kubelet renews before it
expires (kubernetes.io/docs/concepts/storage/projected-volumes,
serviceAccountToken); cm-server reads it again at most once a second. */}}
{{- define "scalable-shop.cmApiTokenVolume" -}}
{{- if .Values.readIdentity.enabled }}
- name: cm-api-token
  projected:
    sources:
      - serviceAccountToken:
          audience: {{ .Values.readIdentity.audience | quote }}
          path: token
          expirationSeconds: 3600
{{- end }}
{{- end }}

{{- define "scalable-shop.cmApiTokenMount" -}}
{{- if .Values.readIdentity.enabled }}
- name: cm-api-token
  mountPath: {{ include "scalable-shop.cmApiTokenDir" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/* Sender identity: cm-api discovers the service-account issuer at the API
server with a token of its own and the cluster CA, as Knative's verifier does
(knative.dev/eventing pkg/auth/verifier.go). A projected, short-lived token in
the usual place, rather than automountServiceAccountToken (which Knative
Serving allows only as false). */}}
{{- define "scalable-shop.apiServerTokenVolume" -}}
{{- if or .Values.senderIdentity.enabled .Values.readIdentity.enabled }}
- name: api-server-token
  projected:
    sources:
      - serviceAccountToken:
          path: token
          expirationSeconds: 3600
      - configMap:
          name: kube-root-ca.crt
          items:
            - key: ca.crt
              path: ca.crt
{{- end }}
{{- end }}

{{- define "scalable-shop.apiServerTokenMount" -}}
{{- if or .Values.senderIdentity.enabled .Values.readIdentity.enabled }}
- name: api-server-token
  mountPath: /var/run/secrets/kubernetes.io/serviceaccount
  readOnly: true
{{- end }}
{{- end }}

{{/*
A function's METRICS_PORT, where it serves /metrics and the detailed /readyz:
the functions' defaults (functions/internal/server/ops.go), so make run, the
chart and config/ agree. Call with "cm-server" or "cm-api".
*/}}
{{- define "scalable-shop.metricsPort" -}}
{{- if eq . "cm-server" }}9464{{ else }}9465{{ end -}}
{{- end }}

{{/*
Pod annotations that point an annotation-driven Prometheus (the
kubernetes-pods job of Prometheus's example configuration, and the Helm
chart's) at the metrics port: the pod IP, not the Knative route, which
never forwards that port. Call with (dict "ctx" $ "name" "cm-server").
*/}}
{{- define "scalable-shop.scrapeAnnotations" -}}
{{- if .ctx.Values.metrics.scrapeAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ include "scalable-shop.metricsPort" .name | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}

{{/*
The Go runtime's collector settings of a function's container: GOGC (the
heap grows by this percentage between collections) and GOMEMLIMIT, a soft
limit of goRuntime.memoryLimitPercent of the container's memory limit, in
bytes (a form Go reads). Knative Serving refuses env valueFrom.resourceFieldRef
unless its kubernetes.podspec-fieldref feature is on (knative.dev/serving
v0.50.0 pkg/apis/serving/k8s_validation.go, validateEnvValueFrom), so the
limit is computed here. Call with (dict "ctx" $ "resources" .Values.cmApi.resources).
*/}}
{{- define "scalable-shop.gcEnv" -}}
{{- $g := .ctx.Values.goRuntime -}}
- name: GOGC
  value: {{ $g.gogc | toString | quote }}
{{- with (.resources.limits).memory }}
{{- $q := toString . -}}
{{- $n := regexFind "^[0-9]+(\\.[0-9]+)?" $q -}}
{{- $unit := trimPrefix $n $q -}}
{{- $mult := get (dict "" 1.0 "m" 0.001 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0) $unit -}}
{{- if or (not $n) (not $mult) }}{{ fail (printf "resources.limits.memory %q: not a quantity GOMEMLIMIT can be computed from" $q) }}{{ end }}
- name: GOMEMLIMIT
  value: {{ divf (mulf (float64 $n) $mult $g.memoryLimitPercent) 100 | int64 | toString | quote }}
{{- end }}
{{- end }}
