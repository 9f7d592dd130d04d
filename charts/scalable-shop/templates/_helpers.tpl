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

{{/* cm-api's in-cluster URL: the same in both modes. */}}
{{- define "scalable-shop.cmApiURL" -}}
{{ printf "http://cm-api.%s.svc.cluster.local" .Release.Namespace }}
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
{{- if and .Values.strimzi.enabled (gt (int .Values.kafka.replicationFactor) (int .Values.strimzi.replicas)) }}
{{- fail (printf "kafka.replicationFactor (%v) exceeds strimzi.replicas (%v)" .Values.kafka.replicationFactor .Values.strimzi.replicas) }}
{{- end }}
{{- if and (eq .Values.mode "knative") .Values.kafkaSource.keda.enabled (gt (int .Values.kafkaSource.keda.maxScale) (int .Values.kafka.partitions)) }}
{{- fail (printf "kafkaSource.keda.maxScale (%v) exceeds kafka.partitions (%v): extra consumers would idle" .Values.kafkaSource.keda.maxScale .Values.kafka.partitions) }}
{{- end }}
{{- if and (eq .Values.mode "kubernetes") (gt (int .Values.cmApi.keda.maxReplicas) (int .Values.kafka.partitions)) }}
{{- fail (printf "cmApi.keda.maxReplicas (%v) exceeds kafka.partitions (%v): extra consumers would idle" .Values.cmApi.keda.maxReplicas .Values.kafka.partitions) }}
{{- end }}
{{- if gt (int .Values.cmApi.keda.minReplicas) (int .Values.cmApi.keda.maxReplicas) }}
{{- fail "cmApi.keda.minReplicas exceeds cmApi.keda.maxReplicas" }}
{{- end }}
{{- end }}
