package manifest

import (
	"math"
	"testing"
	"time"

	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"

	"github.com/scalable-shop/scalable-shop/test/harness"
)

// minRetryWait is the store outage the KafkaSource must ride out before it
// dead-letters an event that failed with a retryable status.
const minRetryWait = time.Hour

// TestRetryWaits_followTheDataPlane checks harness.Delivery's schedule, which
// both the manifest check and the KafkaSource stand-in use.
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
			d := harness.Delivery{Retry: tt.retry, Linear: tt.policy == eventingduckv1.BackoffPolicyLinear, Delay: tt.delay}
			total, longest := d.Budget(), d.Backoff(tt.retry)
			if tt.retry == 0 {
				longest = 0
			}
			if total != tt.total || longest != tt.oneMax {
				t.Errorf("%+v: got budget %v and longest wait %v, want %v and %v", d, total, longest, tt.total, tt.oneMax)
			}
		})
	}
}
