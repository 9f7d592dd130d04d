package harness

import (
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/rickb777/date/period"
	eventingduck "knative.dev/eventing/pkg/apis/duck/v1"
	"sigs.k8s.io/yaml"

	"github.com/scalable-shop/scalable-shop/hack/stack"
)

// The stand-ins for the cluster's components take their settings from the
// manifests the project ships (eventing/), so a test exercises what a
// platform engineer deploys. The chart renders the same resources; the
// manifest tests hold it to that (TestChart_matchesConfig).

// defaultDeliveryTimeout is the data plane's per-attempt timeout when
// spec.delivery.timeout is unset (eventing-kafka-broker knative-v1.23.0,
// WebClientCloudEventSender.DEFAULT_TIMEOUT_MS).
const defaultDeliveryTimeout = 600 * time.Second

// defaultBackoffDelay is the wait a KafkaSource without backoffDelay gets.
const defaultBackoffDelay = 200 * time.Millisecond

// Delivery is how a KafkaSource delivers: its spec.delivery and
// spec.ordering, with the durations resolved.
type Delivery struct {
	Retry          int           // spec.delivery.retry: retries after the first attempt
	Linear         bool          // backoffPolicy linear; otherwise exponential (the default)
	Delay          time.Duration // backoffDelay
	Timeout        time.Duration // one attempt; the data plane's default when unset
	DeadLetterSink bool          // spec.delivery.deadLetterSink is set
	Ordered        bool          // spec.ordering is ordered (the default)
	InitialOffset  string        // spec.initialOffset: earliest or latest (the default)
}

// Backoff is the wait before retry n (1 for the first retry), as the data
// plane computes it (eventing-kafka-broker knative-v1.23.0,
// data-plane/dispatcher/.../impl/http/WebClientCloudEventSender.java,
// computeRetryPolicy): delay*n when linear, delay*2^n when exponential, so
// an exponential schedule already waits twice the delay before its first
// retry. Retry-After is ignored there. A wait past math.MaxInt64 saturates.
func (d Delivery) Backoff(n int) time.Duration {
	factor := float64(n)
	if !d.Linear {
		factor = math.Exp2(float64(n))
	}
	return saturate(factor * float64(d.Delay))
}

// Budget is the total wait before a retryable failure is dead-lettered: the
// sum of every backoff. The attempts themselves (each up to Timeout) come on
// top, so it is a lower bound of how long a failing event is retried.
func (d Delivery) Budget() time.Duration {
	var sum float64
	for n := 1; n <= d.Retry; n++ {
		sum += float64(d.Backoff(n))
	}
	return saturate(sum)
}

// saturate converts nanoseconds to a Duration, saturating on overflow (2^n
// grows past 290 years quickly).
func saturate(ns float64) time.Duration {
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(ns)
}

// Scaled is d with its delay and timeout multiplied by f: tests may run the
// schedule faster, and then scale the faults they inject by the same f.
func (d Delivery) Scaled(f float64) Delivery {
	d.Delay = time.Duration(float64(d.Delay) * f)
	d.Timeout = time.Duration(float64(d.Timeout) * f)
	return d
}

// kafkaSourceDoc is the part of a KafkaSource the stand-in obeys.
type kafkaSourceDoc struct {
	Kind string `json:"kind"`
	Spec struct {
		Delivery      *eventingduck.DeliverySpec `json:"delivery"`
		Ordering      *string                    `json:"ordering"`
		InitialOffset string                     `json:"initialOffset"`
	} `json:"spec"`
}

// ShippedDelivery reads the KafkaSource in eventing/kafkasource.yaml.
func ShippedDelivery(t testing.TB) Delivery {
	t.Helper()
	var src kafkaSourceDoc
	if n := shippedDocs(t, "KafkaSource", "", &src); n != 1 {
		t.Fatalf("eventing/: got %d KafkaSources, want 1", n)
	}
	return delivery(t, src)
}

func delivery(t testing.TB, src kafkaSourceDoc) Delivery {
	t.Helper()
	d := Delivery{Timeout: defaultDeliveryTimeout, Ordered: true, InitialOffset: "latest"}
	if src.Spec.Ordering != nil {
		d.Ordered = *src.Spec.Ordering == "ordered"
	}
	if src.Spec.InitialOffset != "" {
		d.InitialOffset = src.Spec.InitialOffset
	}
	ds := src.Spec.Delivery
	if ds == nil {
		// Without spec.delivery the controller applies its own defaults;
		// the shop always sets it, so the stand-in does not model them.
		t.Fatal("KafkaSource: no spec.delivery; the stand-in models explicit delivery settings only")
	}
	d.DeadLetterSink = ds.DeadLetterSink != nil
	if ds.Retry != nil {
		d.Retry = int(*ds.Retry)
	}
	d.Linear = ds.BackoffPolicy != nil && *ds.BackoffPolicy == eventingduck.BackoffPolicyLinear
	// Without backoffDelay the controller gives the data plane 200 ms
	// (control-plane/pkg/reconciler/consumer/consumer.go:
	// EgressConfigFromDelivery(..., 200)).
	d.Delay = defaultBackoffDelay
	if ds.BackoffDelay != nil {
		d.Delay = isoDuration(t, "backoffDelay", ds.BackoffDelay)
	}
	if ds.Timeout != nil {
		d.Timeout = isoDuration(t, "timeout", ds.Timeout)
	}
	return d
}

func isoDuration(t testing.TB, field string, s *string) time.Duration {
	t.Helper()
	if s == nil {
		return 0
	}
	p, err := period.Parse(*s)
	if err != nil {
		t.Fatalf("KafkaSource spec.delivery.%s %q: %v", field, *s, err)
	}
	d, _ := p.Duration()
	return d
}

// shippedDocs decodes into out the documents of eventing/*.yaml of the given
// kind (and name, unless ""), and returns how many there were; out holds
// the last.
func shippedDocs(t testing.TB, kind, name string, out any) int {
	t.Helper()
	docs, err := stack.ShippedDocuments(filepath.Join(repoRoot(), "eventing"), kind, name)
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range docs {
		if err := yaml.Unmarshal(doc, out); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
	}
	return len(docs)
}
