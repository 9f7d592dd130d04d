package manifest

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// checkKubernetesWiring: Deployments in Kafka mode, Services in front of them
// and a KEDA ScaledObject on cm-api's consumer-group lag; nothing of Knative.
func checkKubernetesWiring(b bundle) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, m := range b {
		if strings.HasSuffix(m.group(), "knative.dev") {
			fail("%s: got a Knative resource, want none in kubernetes mode", m)
		}
	}
	for _, name := range []string{"cm-server", "cm-api"} {
		w, err := b.workload(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		svc, ok := b.get("v1", "Service", name)
		if !ok {
			fail("Service %s: got none, want one in front of the Deployment", name)
			continue
		}
		sel, _ := svc.obj["spec"].(map[string]any)["selector"].(map[string]any)
		for k, v := range sel {
			if w.labels[k] != v {
				fail("%s selector %s=%v: got pod label %q, want it to select the Deployment's pods", svc, k, v, w.labels[k])
			}
		}
		if len(sel) == 0 {
			fail("%s: got no selector, want the Deployment's pod labels", svc)
		}
	}
	api, server := configData(b, "cm-api-config"), configData(b, "cm-server-config")
	for _, k := range []string{"KAFKA_BROKERS", "KAFKA_TOPIC", "KAFKA_CONSUMER_GROUP", "KAFKA_DLQ_TOPIC"} {
		if api[k] == "" {
			fail("cm-api-config %s: got empty, want set (Kafka mode)", k)
		}
	}
	if server["KAFKA_BROKERS"] != api["KAFKA_BROKERS"] || server["KAFKA_TOPIC"] != api["KAFKA_TOPIC"] || server["CM_API_URL"] != cmAPIURL() {
		fail("cm-server-config: got %v, want the brokers and topic of cm-api-config and CM_API_URL %s", server, cmAPIURL())
	}
	objects := b.all("keda.sh/v1alpha1", "ScaledObject")
	if len(objects) != 1 {
		return append(errs, fmt.Errorf("ScaledObjects: got %d, want 1 for cm-api", len(objects)))
	}
	so := objects[0]
	if got := [3]string{str(so, "spec", "scaleTargetRef", "apiVersion"), str(so, "spec", "scaleTargetRef", "kind"), str(so, "spec", "scaleTargetRef", "name")}; got != [3]string{"apps/v1", "Deployment", "cm-api"} {
		fail("%s scaleTargetRef: got %v, want the cm-api Deployment", so, got)
	}
	if min, _ := integer(so, "spec", "minReplicaCount"); min < 1 {
		fail("%s minReplicaCount: got %d, want >= 1 (cm-api also answers buyList)", so, min)
	}
	if w, err := b.workload("cm-api"); err == nil {
		if _, has := w.m.obj["spec"].(map[string]any)["replicas"]; has {
			fail("%s: got spec.replicas, want none (the ScaledObject owns the count)", w.m)
		}
	}
	triggers, _ := so.obj["spec"].(map[string]any)["triggers"].([]any)
	for _, tr := range triggers {
		md, _ := tr.(map[string]any)["metadata"].(map[string]any)
		got := [3]any{md["bootstrapServers"], md["topic"], md["consumerGroup"]}
		if want := [3]any{api["KAFKA_BROKERS"], api["KAFKA_TOPIC"], api["KAFKA_CONSUMER_GROUP"]}; got != want {
			fail("%s kafka trigger: got %v, want %v from cm-api-config", so, got, want)
		}
	}
	return errs
}

// checkStrimziWiring: the in-chart Kafka is KRaft (a dual-role node pool),
// owns both topics and is the cluster the shop talks to.
func checkStrimziWiring(b bundle) []error {
	clusters := b.all(strimziAPI, "Kafka")
	if len(clusters) == 0 {
		return nil
	}
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	kafka := clusters[0]
	var brokers int64
	for _, p := range b.all(strimziAPI, "KafkaNodePool") {
		if labels(p)["strimzi.io/cluster"] == kafka.name() && slices.Contains(strs(p, "spec", "roles"), "controller") && slices.Contains(strs(p, "spec", "roles"), "broker") {
			brokers, _ = integer(p, "spec", "replicas")
		}
	}
	if brokers == 0 {
		fail("%s: got no KafkaNodePool with roles controller and broker for it, want one (KRaft)", kafka)
	}
	if v, ok, _ := unstructured.NestedFieldNoCopy(kafka.obj, "spec", "kafka", "config", "auto.create.topics.enable"); !ok || fmt.Sprint(v) != "false" {
		fail("%s config auto.create.topics.enable: got %v, want false (only the KafkaTopics create topics)", kafka, v)
	}
	for _, m := range b {
		if m.group() == "kafka.strimzi.io" && annotations(m)["helm.sh/resource-policy"] != "keep" {
			fail("%s: got no helm.sh/resource-policy: keep, want it (helm uninstall or strimzi.enabled=false would delete the cluster or a topic)", m)
		}
	}
	want := fmt.Sprintf("%s-kafka-bootstrap.%s:9092", kafka.name(), testNamespace)
	if got := configData(b, "cm-server-config")["KAFKA_BROKERS"]; got != want {
		fail("cm-server-config KAFKA_BROKERS: got %q, want %q (the in-chart cluster)", got, want)
	}
	topics := map[string]manifest{}
	for _, kt := range b.all(strimziAPI, "KafkaTopic") {
		if labels(kt)["strimzi.io/cluster"] != kafka.name() {
			fail("%s strimzi.io/cluster: got %q, want %q", kt, labels(kt)["strimzi.io/cluster"], kafka.name())
		}
		if r, _ := integer(kt, "spec", "replicas"); r > brokers {
			fail("%s replicas: got %d, want <= %d brokers", kt, r, brokers)
		}
		topics[str(kt, "spec", "topicName")] = kt
	}
	for _, sink := range b.all(kafkaSinkAPI, "KafkaSink") {
		if _, ok := topics[str(sink, "spec", "topic")]; !ok {
			fail("%s: got no KafkaTopic for topic %q, want one", sink, str(sink, "spec", "topic"))
		}
	}
	for _, k := range []string{"KAFKA_TOPIC", "KAFKA_DLQ_TOPIC"} {
		if t := configData(b, "cm-api-config")[k]; t != "" && topics[t].obj == nil {
			fail("cm-api-config %s=%s: got no KafkaTopic for it, want one", k, t)
		}
	}
	return errs
}

// checkMongoWiring: MONGODB_URI comes from a Secret; with the in-chart
// MongoDBCommunity it is the operator's connection-string Secret.
func checkMongoWiring(b bundle) []error {
	w, err := b.workload("cm-api")
	if err != nil {
		return []error{err}
	}
	e, ok := env(w.containers[0], "MONGODB_URI")
	if !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		return []error{fmt.Errorf("%s MONGODB_URI: got %+v, want valueFrom.secretKeyRef", w.m, e)}
	}
	ref := e.ValueFrom.SecretKeyRef
	dbs := b.all("mongodbcommunity.mongodb.com/v1", "MongoDBCommunity")
	if len(dbs) == 0 {
		return nil
	}
	database := configData(b, "cm-api-config")["MONGODB_DATABASE"]
	users, _ := dbs[0].obj["spec"].(map[string]any)["users"].([]any)
	for _, u := range users {
		user, _ := u.(map[string]any)
		if user["connectionStringSecretName"] != ref.Name {
			continue
		}
		if ref.Key != "connectionString.standard" && ref.Key != "connectionString.standardSrv" {
			return []error{fmt.Errorf("%s MONGODB_URI key: got %q, want connectionString.standard(Srv)", w.m, ref.Key)}
		}
		roles, _ := user["roles"].([]any)
		for _, r := range roles {
			if role, _ := r.(map[string]any); role["db"] == database && role["name"] == "readWrite" {
				return nil
			}
		}
		return []error{fmt.Errorf("%s user %v: got roles %v, want readWrite on %q", dbs[0], user["name"], roles, database)}
	}
	return []error{fmt.Errorf("%s: got no user whose connectionStringSecretName is %q, want the Secret cm-api reads", dbs[0], ref.Name)}
}
