// Package manifest proves, without a cluster, that every deployment manifest
// the project ships is one the cluster would accept and that the pieces are
// wired to each other.
//
// The tests decode each YAML document of config/, eventing/, the rendered
// charts/scalable-shop and the examples in docs/deploy.md strictly (unknown
// fields fail) and validate it with the upstream machinery: Knative Services
// and SinkBindings through their own SetDefaults and Validate (errors and
// warnings both fail), custom resources such as KafkaSink, KafkaSource and the
// Strimzi and MongoDB resources through the API server's structural-schema
// pruning, defaulting, OpenAPI and CEL validation against the upstream CRDs in
// ../shared/crds (or $SHARED_CRDS_DIR). Other tests check ko.yaml, that every
// ko:// image is a main package that builds with CGO_ENABLED=0 for linux/amd64
// and linux/arm64, and that `helm lint` and `helm template` pass.
//
// Security rules apply to every bundle: secrets (API_KEYS, KAFKA_SASL_PASSWORD,
// MONGODB_PASSWORD, MONGODB_URI, and any name that says so) reach a container
// only through secretKeyRef, never as a literal or in a ConfigMap; mounts are
// read-only; API keys and the rate limit are on by default; what the functions
// use to reach Kafka is what the KafkaSinks, the KafkaSource and KEDA use; every
// variable a manifest sets is one the function reads; and the chart's
// NOTES.txt says how to create every Secret a release reads.
//
// Topics exist before the KafkaSource runs: the chart's topics Job for a
// Kafka without Strimzi is a pre-install/pre-upgrade hook that ensures the
// release's topics, and `make deploy` waits for the KafkaTopics. With sender
// identity on, the EventPolicies admit every token-carrying sender, the
// KafkaSource to its dead-letter sink included.
//
// The chart's alerting rules (alerts.enabled, a PrometheusRule) pass
// `promtool check rules` and Prometheus's own rule unit tests (`promtool
// test rules`, testdata/alerts_test.yaml) on the rendered chart, and each
// alert's runbook_url names a heading of docs/operations.md.
//
// The documents are checked like code: every relative link and #anchor in
// README.md and docs/*.md resolves, and docs/configuration.md lists exactly
// the variables the functions and `make run` read (found by parsing the Go
// source).
//
// The package holds only tests; run them with `go test ./test/manifest/...`.
// -short skips the parts that need helm, promtool, the shared CRDs or a full build.
package manifest
