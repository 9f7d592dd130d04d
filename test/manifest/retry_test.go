package manifest

import (
	"math"
	"testing"
	"time"

	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
)

// minRetryWait is the store outage the KafkaSource must ride out before it
// dead-letters an event that failed with a retryable status.
const minRetryWait = time.Hour

// retryWaits returns how long the KafkaSource dispatcher waits in all before
// it gives up on an event, and its longest single wait. It mirrors
// computeRetryPolicy in eventing-kafka-broker knative-v1.23.0
// data-plane/dispatcher/src/main/java/dev/knative/eventing/kafka/broker/dispatcher/impl/http/WebClientCloudEventSender.java:
// the wait before retry n (1..retry) is delay*n when linear and delay*2^n
// otherwise (so the first exponential retry already waits twice the delay),
// and Retry-After is ignored. The attempts themselves (each up to the
// delivery timeout) come on top, so this is a lower bound of the time.
func retryWaits(retry int, policy eventingduckv1.BackoffPolicyType, delay time.Duration) (total, longest time.Duration) {
	var sum, last float64
	for n := 1; n <= retry; n++ {
		factor := float64(n)
		if policy != eventingduckv1.BackoffPolicyLinear {
			factor = math.Exp2(float64(n))
		}
		last = factor * float64(delay)
		sum += last
	}
	return clampDuration(sum), clampDuration(last)
}

// clampDuration converts nanoseconds to a Duration, saturating on overflow
// (2^n grows past 290 years quickly).
func clampDuration(ns float64) time.Duration {
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(ns)
}

func TestRetryWaits_followTheDataPlane(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		retry         int
		policy        eventingduckv1.BackoffPolicyType
		delay         time.Duration
		total, oneMax time.Duration
	}{
		{"old_5_exponential_half_second_31s", 5, eventingduckv1.BackoffPolicyExponential, 500 * time.Millisecond, 31 * time.Second, 16 * time.Second},
		{"shipped_130_linear_half_second_4257_5s", 130, eventingduckv1.BackoffPolicyLinear, 500 * time.Millisecond, 4257500 * time.Millisecond, 65 * time.Second},
		{"knative_default_10_exponential_0_3s", 10, eventingduckv1.BackoffPolicyExponential, 300 * time.Millisecond, 613800 * time.Millisecond, 307200 * time.Millisecond},
		{"no_retries_no_wait", 0, eventingduckv1.BackoffPolicyLinear, time.Second, 0, 0},
		{"exponential_overflow_saturates", 130, eventingduckv1.BackoffPolicyExponential, time.Second, math.MaxInt64, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			total, longest := retryWaits(tt.retry, tt.policy, tt.delay)
			if total != tt.total || longest != tt.oneMax {
				t.Errorf("retryWaits(%d, %s, %v): got %v and %v, want %v and %v", tt.retry, tt.policy, tt.delay, total, longest, tt.total, tt.oneMax)
			}
		})
	}
}
