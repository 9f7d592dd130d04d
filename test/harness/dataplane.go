package harness

import (
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// With SHOP_DATAPLANE set to the folder hack/dataplane.sh built (the jars
// of eventing-kafka-broker knative-v1.23.0's receiver-loom and
// dispatcher-loom, and the data plane's ConfigMaps), StartKafkaSink and
// StartKafkaSource start the real KafkaSink receiver and KafkaSource
// dispatcher instead of the stand-ins, as processes without Kubernetes,
// configured by a contract file written as the control plane would write
// it (dataplane_contract.go). `make test-dataplane` runs the Knative-mode
// end-to-end tests so.

// DataPlane reports whether the tests run against the real data plane.
func DataPlane() bool { return dataPlaneDir() != "" }

func dataPlaneDir() string { return os.Getenv("SHOP_DATAPLANE") }

// StandInOnly skips a test that only makes sense on the stand-ins when the
// tests run against the real data plane, saying why.
func StandInOnly(t testing.TB, why string) {
	t.Helper()
	if DataPlane() {
		t.Skip("stand-in only under SHOP_DATAPLANE: " + why)
	}
}

// RealDataPlane skips a test written for the real data plane unless
// SHOP_DATAPLANE is set (make test-dataplane), and returns its folder.
func RealDataPlane(t testing.TB) string {
	t.Helper()
	if !DataPlane() {
		t.Skip("needs the real Knative data plane: run make test-dataplane (SHOP_DATAPLANE unset)")
	}
	return dataPlaneDir()
}

// dataPlaneNamespace is the namespace the tests' resources live in; it
// makes the receiver's paths (/<namespace>/<name>) and Kn-Namespace.
const dataPlaneNamespace = "shop"

// sourceServiceAccount is the KafkaSource's OIDC service account as
// Knative names it (knative.dev/eventing pkg/auth/serviceaccount.go,
// GetOIDCServiceAccountNameForResource: <name>-oidc-<group>-<kind>).
const sourceServiceAccount = "cm-api-purchases-oidc-sources.knative.dev-kafkasource"

// DeadLetterAudience is the audience of the KafkaSink purchases-dlq in
// namespace, as the sink controller publishes it (kafka_sink.go with
// knative.dev/eventing pkg/auth/audience.go, GetAudience:
// <group>/<kind>/<namespace>/<name>, lower case).
func DeadLetterAudience(namespace string) string {
	return "eventing.knative.dev/kafkasink/" + namespace + "/purchases-dlq"
}

var (
	javaWrapperOnce sync.Once
	javaWrapper     string
	javaWrapperErr  error
)

// startJava runs one of the data plane's jars with the flags DATAPLANE.md
// gives (256 MB heap, 2 processors), in its own process group, stopped when
// the test ends (Start).
func startJava(t testing.TB, name, jar string, env map[string]string) *Process {
	t.Helper()
	javaWrapperOnce.Do(func() {
		dir, err := os.MkdirTemp("", "scalable-shop-java-")
		if err != nil {
			javaWrapperErr = err
			return
		}
		logging, err := loggingConfig(dir)
		if err != nil {
			javaWrapperErr = err
			return
		}
		javaWrapper = filepath.Join(dir, "java-jar")
		// exec keeps the pid: the process group Start signals is the JVM's.
		script := "#!/bin/sh\nexec \"$DP_JAVA\" -Xmx256m -XX:ActiveProcessorCount=2 -Dlogback.configurationFile=" + logging +
			" -jar \"$DP_JAR\"\n"
		javaWrapperErr = os.WriteFile(javaWrapper, []byte(script), 0o700)
	})
	if javaWrapperErr != nil {
		t.Fatal(javaWrapperErr)
	}
	java := os.Getenv("SHOP_DATAPLANE_JAVA")
	if java == "" {
		java = "java"
	}
	env["DP_JAVA"], env["DP_JAR"] = java, filepath.Join(dataPlaneDir(), jar)
	return Start(t, name, javaWrapper, env)
}

// loggingConfig writes the data plane's logback configuration, config.xml
// of the ConfigMap kafka-config-logging (eventing-kafka-broker
// control-plane/config/eventing-kafka-broker/200-controller/100-config-logging.yaml:
// JSON lines at INFO), into dir, and returns its path: without it the jars
// log everything at DEBUG.
func loggingConfig(dir string) (string, error) {
	raw, err := os.ReadFile(filepath.Join(dataPlaneDir(), "config", "100-config-logging.yaml"))
	if err != nil {
		return "", fmt.Errorf("data plane logging ConfigMap: %w (run hack/dataplane.sh build again)", err)
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(raw, &cm); err != nil || cm.Data["config.xml"] == "" {
		return "", fmt.Errorf("100-config-logging.yaml: no data config.xml (%v)", err)
	}
	path := filepath.Join(dir, "config.xml")
	return path, os.WriteFile(path, []byte(cm.Data["config.xml"]), 0o600)
}

// startReceiver starts the real KafkaSink receiver serving the shipped
// KafkaSink name, writing to topic, and returns its URL once it takes
// events at that path.
func startReceiver(t testing.TB, brokers []string, topic, name string) string {
	t.Helper()
	dir := t.TempDir()
	props := dataPlaneProperties(t, dir, "100-config-kafka-sink-data-plane.yaml", nil)
	for _, sub := range []string{"observability", "features"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	port := FreePort(t)
	// The environment of data-plane/config/sink/500-receiver.yaml, with
	// files instead of mounted ConfigMaps and free ports; no TLS secret, so
	// no https listener.
	env := map[string]string{
		"SERVICE_NAME": "kafka-sink-receiver", "SERVICE_NAMESPACE": "knative-eventing",
		"INGRESS_PORT": port, "INGRESS_TLS_PORT": FreePort(t),
		"PRODUCER_CONFIG_FILE_PATH":   props["config-kafka-sink-producer.properties"],
		"HTTPSERVER_CONFIG_FILE_PATH": props["config-kafka-sink-httpserver.properties"],
		"DATA_PLANE_CONFIG_FILE_PATH": writeContract(t, dir, sinkResource(t, dataPlaneNamespace, name, topic, brokers)),
		"LIVENESS_PROBE_PATH":         "/healthz", "READINESS_PROBE_PATH": "/readyz",
		"METRICS_PUBLISH_QUANTILES": "false", "METRICS_JVM_ENABLED": "false",
		"CONFIG_OBSERVABILITY_PATH": filepath.Join(dir, "observability"),
		"CONFIG_FEATURES_PATH":      filepath.Join(dir, "features"),
		"WAIT_STARTUP_SECONDS":      "8",
	}
	p := startJava(t, "kafka-sink-receiver "+name, "receiver.jar", env)
	u := "http://127.0.0.1:" + port + "/" + dataPlaneNamespace + "/" + name
	// A POST that is no CloudEvent is answered 400 once the path is served
	// (404 before the contract is loaded) and writes nothing.
	waitStatus(t, p, u, http.StatusBadRequest)
	t.Logf("real KafkaSink receiver %s at %s, writing to %s", name, u, topic)
	return u
}

// waitStatus polls url with an empty POST until it answers want.
func waitStatus(t testing.TB, p *Process, u string, want int) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := c.Post(u, "application/json", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s did not answer %d within 90 s (last: %v %v)\n%s", p.Name, u, want, resp, err, tail(p.Output(), 40))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Dispatcher is one real dispatcher process (one pod of
// kafka-source-dispatcher) with the contract and config it was started with,
// so a test can kill it and start it again.
type Dispatcher struct {
	*Process
	t    testing.TB
	env  map[string]string
	base string // the first INSTANCE_ID; a restart is <base>-<n>
	id   int
}

// Restart starts the dispatcher again after it stopped, with the same
// contract and configuration (a pod restarted by its StatefulSet).
func (d *Dispatcher) Restart() {
	d.t.Helper()
	if d.base == "" {
		d.base = d.env["INSTANCE_ID"]
	}
	d.id++
	d.env["INSTANCE_ID"] = fmt.Sprintf("%s-%d", d.base, d.id)
	d.Process = startJava(d.t, d.Name, "dispatcher.jar", d.env)
}

// Another starts one more dispatcher pod given consumers of the same
// KafkaSource (same contract and configuration, another instance), as a
// KEDA scale step or a new dispatcher pod does; its joining rebalances the
// group.
func (d *Dispatcher) Another() *Dispatcher {
	d.t.Helper()
	env := maps.Clone(d.env)
	env["INSTANCE_ID"] = Unique("dispatcher")
	return &Dispatcher{t: d.t, env: env, Process: startJava(d.t, d.Name, "dispatcher.jar", env)}
}

// DispatcherOptions changes how startDispatcher runs the data plane; the
// zero value is as shipped.
type DispatcherOptions struct {
	// VReplicas of the KafkaSource's consumers placed on this pod (1 when 0).
	VReplicas int
	// Consumer overrides lines of config-kafka-source-consumer.properties
	// (e.g. max.poll.records), as a platform engineer would in the data
	// plane's ConfigMap.
	Consumer map[string]string
}

// StartDispatcher starts one real KafkaSource dispatcher for cfg, as a pod
// of the dispatcher StatefulSet that was given the source's consumers, and
// returns it; several in one group share the partitions as the pods do.
func StartDispatcher(t testing.TB, cfg SourceConfig, uid string, opt DispatcherOptions) *Dispatcher {
	t.Helper()
	RealDataPlane(t)
	if cfg.Namespace == "" {
		cfg.Namespace = dataPlaneNamespace
	}
	if cfg.Delivery.InitialOffset != "earliest" {
		// With latest, the consumer-group controller first commits the
		// topic's end offsets (consumergroup.go, reconcileInitialOffset);
		// the shop ships earliest, which needs nothing before the dispatcher.
		t.Fatalf("KafkaSource initialOffset %q: only earliest (what eventing/ ships) is set up without Kubernetes", cfg.Delivery.InitialOffset)
	}
	dir := t.TempDir()
	var override map[string]map[string]string
	if opt.Consumer != nil {
		override = map[string]map[string]string{"config-kafka-source-consumer.properties": opt.Consumer}
	}
	props := dataPlaneProperties(t, dir, "100-config-kafka-source-data-plane.yaml", override)
	if err := os.Mkdir(filepath.Join(dir, "observability"), 0o700); err != nil {
		t.Fatal(err)
	}
	// The environment of data-plane/config/source/500-dispatcher.yaml.
	env := map[string]string{
		"SERVICE_NAME": "kafka-source-dispatcher", "SERVICE_NAMESPACE": "knative-eventing",
		"PRODUCER_CONFIG_FILE_PATH":  props["config-kafka-source-producer.properties"],
		"CONSUMER_CONFIG_FILE_PATH":  props["config-kafka-source-consumer.properties"],
		"WEBCLIENT_CONFIG_FILE_PATH": props["config-kafka-source-webclient.properties"],
		"DATA_PLANE_CONFIG_FILE_PATH": writeContract(t, dir,
			sourceResource(t, cfg, uid, max(1, opt.VReplicas))),
		"EGRESSES_INITIAL_CAPACITY": "20", "INSTANCE_ID": Unique("dispatcher"),
		"METRICS_PUBLISH_QUANTILES": "false", "METRICS_JVM_ENABLED": "false",
		"CONFIG_OBSERVABILITY_PATH": filepath.Join(dir, "observability"),
		"HTTP2_DISABLE":             "true", "WAIT_STARTUP_SECONDS": "8",
	}
	if cfg.Token != nil {
		for k, v := range fakeTokenAPI(t, cfg) {
			env[k] = v
		}
	}
	d := &Dispatcher{t: t, env: env}
	d.Process = startJava(t, "kafka-source-dispatcher", "dispatcher.jar", env)
	t.Logf("real KafkaSource dispatcher (vReplicas %d) consuming %s as %s, delivering to %s, dead letters to %q",
		max(1, opt.VReplicas), cfg.Topic, cfg.Group, cfg.Sink, cfg.DeadLetterSink)
	return d
}

// startDataPlaneSource is StartKafkaSource on the real data plane: one
// dispatcher, behind meters that count what it does (see meter).
func startDataPlaneSource(t testing.TB, cfg SourceConfig) *KafkaSource {
	t.Helper()
	src, _ := startDispatchers(t, cfg, 1, DispatcherOptions{})
	return src
}

// startDispatchers starts n dispatchers of one KafkaSource (n pods that
// were each given consumers of it) behind the meters, and waits until all n
// consume.
//
// A KafkaSource already running in the same consumer group (a second
// StartKafkaSource for cfg.Group) is the same KafkaSource: the new
// dispatchers take its uid and join its group, and the wait is for the
// group to be stable with every dispatcher still running, the earlier ones
// too (a crashed one's member has to time out first, session.timeout.ms).
// Each such wait is a rebalance after which every running dispatcher of the
// group consumes in a new generation: it counts one Session for each
// running source, as the stand-in counts its consumer group sessions.
func startDispatchers(t testing.TB, cfg SourceConfig, n int, opt DispatcherOptions) (*KafkaSource, []*Dispatcher) {
	t.Helper()
	src := &KafkaSource{}
	metered := cfg
	metered.Sink = meter(t, src, cfg.Sink, false)
	if cfg.DeadLetterSink != "" {
		metered.DeadLetterSink = meter(t, src, cfg.DeadLetterSink, true)
	}
	sourceDestinations.Store(src, metered.Sink)
	g := dataPlaneGroupOf(cfg.Group)
	var ds []*Dispatcher
	for range n {
		ds = append(ds, StartDispatcher(t, metered, g.uid, opt))
	}
	var once sync.Once
	src.stop = func(crash bool) {
		once.Do(func() {
			g.leave(src)
			for _, d := range ds {
				if crash {
					d.Kill() // SIGKILL: no commit on the way out
				} else {
					_ = d.Stop(10 * time.Second)
				}
			}
		})
	}
	t.Cleanup(func() { src.stop(false) })
	members := g.join(src, n)
	WaitGroupMembers(t, cfg.Brokers, cfg.Group, members)
	g.rebalanced()
	return src, ds
}

// dataPlaneGroup is the real dispatchers running in one consumer group: one
// KafkaSource's pods.
type dataPlaneGroup struct {
	uid  string
	mu   sync.Mutex
	live map[*KafkaSource]int // dispatchers per source
}

var dataPlaneGroups sync.Map // consumer group -> *dataPlaneGroup

func dataPlaneGroupOf(group string) *dataPlaneGroup {
	g, _ := dataPlaneGroups.LoadOrStore(group, &dataPlaneGroup{uid: Unique("kafkasource"), live: map[*KafkaSource]int{}})
	return g.(*dataPlaneGroup)
}

// join adds src's n dispatchers and returns how many the group has.
func (g *dataPlaneGroup) join(src *KafkaSource, n int) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.live[src] = n
	total := 0
	for _, k := range g.live {
		total += k
	}
	return total
}

func (g *dataPlaneGroup) leave(src *KafkaSource) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.live, src)
}

// rebalanced counts the new session of every running source.
func (g *dataPlaneGroup) rebalanced() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for src := range g.live {
		src.Sessions.Add(1)
	}
}

// startShopDataPlaneSource is Shop.StartKafkaSource on the real data plane.
func (s *Shop) startDataPlaneSource(d Delivery) *KafkaSource {
	s.t.Helper()
	src, _ := s.StartDataPlaneSource(d, 1, DispatcherOptions{})
	return src
}

// StartDataPlaneSource starts the shop's cluster path behind cm-api on the
// real data plane: a real receiver for the dead-letter KafkaSink
// purchases-dlq writing to the shop's DLQ topic, and n real dispatchers (n
// pods of the KafkaSource's consumers) delivering the shop's topic to
// cm-api with delivery d. It returns the counters and the dispatchers, so a
// test can kill and restart them.
//
// Each attempt keeps the shipped timeout even when the tests scale the
// schedule down: a receiver whose JVM has just started takes more than a
// scaled attempt (500 ms) for its first send, and the dispatcher then sends
// the dead letter again, so the dead-letter topic holds it twice.
func (s *Shop) StartDataPlaneSource(d Delivery, n int, opt DispatcherOptions) (*KafkaSource, []*Dispatcher) {
	s.t.Helper()
	d.Timeout = max(d.Timeout, ShippedDelivery(s.t).Timeout)
	dls := startReceiver(s.t, s.Brokers, s.DLQTopic, "purchases-dlq")
	return startDispatchers(s.t, SourceConfig{Brokers: s.Brokers, Topic: s.Topic, Group: s.Group,
		Sink: s.APIURL, DeadLetterSink: dls, Delivery: d, Token: s.SourceToken}, n, opt)
}
