package e2e

import (
	"fmt"
	"testing"

	"github.com/scalable-shop/scalable-shop/test/harness"
)

// TestKnativeDispatcherCrashRedeliversAsDuplicates: the dispatcher commits
// offsets every 5 s, so when it is killed, what it delivered since its last
// commit is delivered again by the next one (on the real data plane 16 of
// 79 events came again). cm-api answers those as duplicates: every
// purchase is stored once.
func TestKnativeDispatcherCrashRedeliversAsDuplicates(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	shop.StartAPI(false, nil)
	source := shop.StartKafkaSource(1) // the data plane's own 5 s commit interval
	shop.StartServer("", nil)

	acked := map[string]string{buyOK(t, shop, `{"username":"crash","userid":"c-1","price":"0.01"}`, nil): "0.01"}
	waitAllDispatched(t, shop) // the first commit has happened: the crash falls early in an interval
	for i := range 10 {
		price := fmt.Sprintf("%d.00", i+1)
		acked[buyOK(t, shop, fmt.Sprintf(`{"username":"crash","userid":"c-%d","price":%q}`, i%3, price), nil)] = price
	}
	harness.WaitStoredOnce(t, shop, "crash", acked, visibleWithin)
	source.Crash()
	if committed, written := committedOffsets(t, brokers, shop.Group, shop.Topic), shop.TopicRecords(t); committed >= written {
		t.Fatalf("committed offsets after the crash: got %d of %d records, want the last ones uncommitted", committed, written)
	}

	again := shop.StartKafkaSource(1)
	waitAllDispatched(t, shop)
	if n := again.Delivered.Load(); n == 0 {
		t.Errorf("after the crash: %d events delivered again, want the uncommitted ones", n)
	}
	dup := metricValue(t, shop.APIMetrics, `shop_events_total{function="cm-api",result="duplicate"}`)
	if int64(dup) != again.Delivered.Load() {
		t.Errorf("cm-api counted %v duplicates, want the %d delivered again", dup, again.Delivered.Load())
	}
	harness.WaitStoredOnce(t, shop, "crash", acked, visibleWithin)
	t.Logf("%d purchases; after the crash %d events delivered again, each answered as a duplicate", len(acked), again.Delivered.Load())
}
