package manifest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// validateJob strictly decodes a Job and checks it can run: containers, and
// a restart policy a Job allows.
func validateJob(m manifest) error {
	var j batchv1.Job
	if err := decodeBuiltin(m, &j); err != nil {
		return err
	}
	if len(j.Spec.Template.Spec.Containers) == 0 {
		return fmt.Errorf("%s: spec.template.spec.containers: got none, want one", m)
	}
	if p := j.Spec.Template.Spec.RestartPolicy; p != corev1.RestartPolicyNever && p != corev1.RestartPolicyOnFailure {
		return fmt.Errorf("%s: restartPolicy %q: want Never or OnFailure", m, p)
	}
	return nil
}

// checkTopicsJob requires the chart's topics Job to create exactly the
// topics the release uses, with the sizes of the values, before anything
// else of the release exists: a pre-install and pre-upgrade hook (Helm runs
// those to completion first, and fails the release when they fail), while
// the KafkaSource and the functions are not hooks. A hook that deleted
// itself on failure would hide why an install was refused.
func checkTopicsJob(b bundle, mode string, partitions, dlqPartitions string) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	jobs := b.all("batch/v1", "Job")
	if len(jobs) != 1 {
		return []error{fmt.Errorf("Jobs: got %d, want the topics Job", len(jobs))}
	}
	job := jobs[0]
	ann, _, _ := unstructuredMap(job.obj, "metadata", "annotations")
	hooks := strings.Split(ann["helm.sh/hook"], ",")
	if !slices.Contains(hooks, "pre-install") || !slices.Contains(hooks, "pre-upgrade") {
		fail("%s helm.sh/hook: got %q, want pre-install and pre-upgrade", job, ann["helm.sh/hook"])
	}
	if strings.Contains(ann["helm.sh/hook-delete-policy"], "hook-failed") {
		fail("%s helm.sh/hook-delete-policy %q: a failed Job must stay for its logs", job, ann["helm.sh/hook-delete-policy"])
	}
	for _, m := range b {
		if m.name() == job.name() && m.kind() == "Job" {
			continue
		}
		if a, _, _ := unstructuredMap(m.obj, "metadata", "annotations"); a["helm.sh/hook"] != "" {
			fail("%s: a hook (%s), want it created after the topics Job", m, a["helm.sh/hook"])
		}
	}
	var j batchv1.Job
	if err := decodeStrict(job, &j); err != nil {
		return append(errs, err)
	}
	c := j.Spec.Template.Spec.Containers[0]
	args := c.Args
	flag := func(name string) string {
		if i := slices.Index(args, name); i >= 0 && i+1 < len(args) {
			return args[i+1]
		}
		return ""
	}
	if len(args) < 2 || args[0] != "topics" || args[1] != "ensure" || flag("--partitions") != partitions || flag("--dlq-partitions") != dlqPartitions {
		fail("%s args %v: want topics ensure --partitions %s --dlq-partitions %s", job, args, partitions, dlqPartitions)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	// The topics the release reads and writes, and where.
	want := map[string]string{}
	if mode == "knative" {
		src, _ := b.get(sourcesAPI, "KafkaSource", "cm-api-purchases")
		dls, _ := b.get(kafkaSinkAPI, "KafkaSink", str(src, "spec", "delivery", "deadLetterSink", "ref", "name"))
		want["KAFKA_TOPIC"] = strings.Join(strs(src, "spec", "topics"), ",")
		want["KAFKA_DLQ_TOPIC"] = str(dls, "spec", "topic")
		want["KAFKA_BROKERS"] = strings.Join(strs(src, "spec", "bootstrapServers"), ",")
	} else {
		cfg := configData(b, "cm-api-config")
		for _, k := range []string{"KAFKA_TOPIC", "KAFKA_DLQ_TOPIC", "KAFKA_BROKERS"} {
			want[k] = cfg[k]
		}
	}
	for k, v := range want {
		if v == "" || env[k] != v {
			fail("%s %s: got %q, want %q (what the release uses)", job, k, env[k], v)
		}
	}
	sc := c.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		fail("%s: got securityContext %+v, want non-root with a read-only root filesystem", job, sc)
	}
	return errs
}

// unstructuredMap reads a nested map of strings.
func unstructuredMap(obj map[string]any, fields ...string) (map[string]string, bool, error) {
	out := map[string]string{}
	cur := any(obj)
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return out, false, nil
		}
		cur = m[f]
	}
	m, ok := cur.(map[string]any)
	if !ok {
		return out, false, nil
	}
	for k, v := range m {
		out[k], _ = v.(string)
	}
	return out, true, nil
}

// TestTopicsJob_createsTheTopicsBeforeTheSource: for a Kafka without
// Strimzi, kafka.topicsJob renders a pre-install/pre-upgrade Job running
// `shopctl topics ensure` for the release's topics and sizes, in both modes;
// it is off by default and never rendered with strimzi.enabled, whose Kafka
// does not auto-create topics and whose KafkaTopics create them.
func TestTopicsJob_createsTheTopicsBeforeTheSource(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, mode string
		set        []string
	}{
		{"knative", "knative", []string{"kafka.topicsJob.enabled=true", "kafka.partitions=12", "kafka.dlqPartitions=2"}},
		{"knative_sasl_tls", "knative", append([]string{"kafka.topicsJob.enabled=true", "kafka.topicsJob.secret=kafka-admin",
			"kafka.partitions=12", "kafka.dlqPartitions=2"}, kafkaAuthValues...)},
		{"kubernetes", "kubernetes", []string{"mode=kubernetes", "kafka.topicsJob.enabled=true", "kafka.partitions=12", "kafka.dlqPartitions=2"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ms, err := helmTemplate(t, c.set...)
			if err != nil {
				t.Fatalf("helm template: %v", err)
			}
			for _, err := range checkTopicsJob(bundle(ms), c.mode, "12", "2") {
				t.Error(err)
			}
		})
	}
	for _, set := range [][]string{nil, {"strimzi.enabled=true", "kafka.topicsJob.enabled=true"}} {
		ms, err := helmTemplate(t, set...)
		if err != nil {
			t.Fatalf("helm template %v: %v", set, err)
		}
		if jobs := bundle(ms).all("batch/v1", "Job"); len(jobs) != 0 {
			t.Errorf("helm template %v: got %d Jobs, want none", set, len(jobs))
		}
	}
	if _, err := helmTemplate(t, append([]string{"kafka.topicsJob.enabled=true"}, kafkaAuthValues...)...); err == nil ||
		!strings.Contains(err.Error(), "kafka.topicsJob.secret") {
		t.Errorf("SASL without kafka.topicsJob.secret: got %v, want the chart to ask for it", err)
	}
}

// TestTopicsJob_checkCatchesMistakes: a Job that is not a pre-install hook,
// or that ensures another topic than the source reads, is caught.
func TestTopicsJob_checkCatchesMistakes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, want string
		edit       func(job map[string]any)
	}{
		{"post_install", "helm.sh/hook", func(job map[string]any) {
			job["metadata"].(map[string]any)["annotations"].(map[string]any)["helm.sh/hook"] = "post-install"
		}},
		{"other_topic", "KAFKA_TOPIC", func(job map[string]any) {
			spec := job["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
			for _, e := range spec["containers"].([]any)[0].(map[string]any)["env"].([]any) {
				if e := e.(map[string]any); e["name"] == "KAFKA_TOPIC" {
					e["value"] = "orders"
				}
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ms, err := helmTemplate(t, "kafka.topicsJob.enabled=true")
			if err != nil {
				t.Fatalf("helm template: %v", err)
			}
			b := bundle(ms)
			c.edit(b.all("batch/v1", "Job")[0].obj)
			if errs := checkTopicsJob(b, "knative", "10", "3"); !strings.Contains(fmt.Sprint(errs), c.want) {
				t.Errorf("got %v, want %s reported", errs, c.want)
			}
		})
	}
}

// TestMakeDeploy_waitsForTheTopics: `make deploy` applies eventing/topics/,
// waits until Strimzi reports each KafkaTopic Ready (the topic exists), and
// only then applies eventing/, whose KafkaSource would otherwise ask a broker
// that auto-creates topics for a missing one.
func TestMakeDeploy_waitsForTheTopics(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	var recipe []string
	in := false
	for line := range strings.Lines(string(data)) {
		switch {
		case strings.HasPrefix(line, "deploy:"):
			in = true
		case in && strings.HasPrefix(line, "\t"):
			recipe = append(recipe, strings.TrimSpace(line))
		case in:
			in = false
		}
	}
	step := func(sub ...string) int {
		return slices.IndexFunc(recipe, func(l string) bool {
			for _, s := range sub {
				if !strings.Contains(l, s) {
					return false
				}
			}
			return true
		})
	}
	apply, wait, eventing := step("kubectl apply", topicsDir), step("kubectl", "wait", "kafkatopic/purchases", "kafkatopic/purchases-dlq", "condition=Ready"), step("ko apply", "eventing/")
	if apply < 0 || wait < 0 || eventing < 0 || !(apply < wait && wait < eventing) {
		t.Errorf("make deploy recipe %q: want the topics applied, waited for (Ready) and only then eventing/ applied", recipe)
	}
}

// TestHelmNotes_topicsBeforeInstalling: without Strimzi the notes say the
// topics must exist before installing and how to make sure of it next time;
// with the topics Job, that it ran first.
func TestHelmNotes_topicsBeforeInstalling(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		set  []string
		want []string
	}{
		{nil, []string{"BEFORE installing", "kafka.topicsJob.enabled=true", "topics ensure"}},
		{[]string{"kafka.topicsJob.enabled=true"}, []string{"the pre-install Job ran shopctl topics ensure", "topics ensure"}},
	} {
		notes, err := helmNotes(t, c.set...)
		if err != nil {
			t.Fatalf("notes %v: %v", c.set, err)
		}
		for _, w := range c.want {
			if !strings.Contains(notes, w) {
				t.Errorf("notes %v: got no %q, want it", c.set, w)
			}
		}
	}
}
