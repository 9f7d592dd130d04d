package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/functions/apitest/authtest"
	"github.com/scalable-shop/scalable-shop/hack/stack"
	"github.com/scalable-shop/scalable-shop/test/harness"
)

// The tests below run only against the real Knative data plane (make
// test-dataplane: the KafkaSink receiver and the KafkaSource dispatcher of
// eventing-kafka-broker knative-v1.23.0, built from source); the other
// Knative-mode tests run there too, through the harness's switch. They use
// the delivery eventing/kafkasource.yaml ships, unscaled: real time.

// duplicatesAnswered counts the events cm-api answered as duplicates of a
// stored purchase (its debug log "purchase stored" with duplicate true).
func duplicatesAnswered(shop *harness.Shop) int {
	return strings.Count(shop.API.Output(), `"duplicate":true`)
}

// TestDataPlaneStoreOutageDeadLettersNothing stops the store for 60 s of
// real time under a steady stream of buys, with the real dispatcher and the
// shipped delivery (130 linear retries from 0.5 s, 10 s per attempt): it
// must dead-letter nothing and lose nothing, and every acknowledged
// purchase is stored exactly once after the store is back.
func TestDataPlaneStoreOutageDeadLettersNothing(t *testing.T) {
	t.Parallel()
	harness.RealDataPlane(t)
	brokers := harness.Integration(t)
	storeOutageDeadLettersNothing(t, brokers, storeOutage{length: 60 * time.Second, scale: 1,
		every: 500 * time.Millisecond, storedWithin: storedWithin})
}

// TestDataPlaneDispatcherCrash kills the dispatcher with SIGKILL in the
// middle of a stream of buys and starts it again (its pod restarted). It
// commits offsets every 5 s (OffsetManager.java), so events it delivered
// since the last commit come again: cm-api answers them as duplicates, and
// every acknowledged purchase is stored exactly once.
func TestDataPlaneDispatcherCrash(t *testing.T) {
	t.Parallel()
	harness.RealDataPlane(t)
	brokers := harness.Integration(t)
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	sink := harness.StartKafkaSink(t, brokers, shop.Topic)
	shop.StartAPI(false, nil)
	source, ds := shop.StartDataPlaneSource(harness.ShippedDelivery(t), 1, harness.DispatcherOptions{})
	shop.StartServer(sink, nil)

	stream := harness.StartStream(t, shop, "crash", 4, 20*time.Millisecond)
	stream.WaitAcked(t, 100, visibleWithin)
	ds[0].Kill()
	killedAt := source.Delivered.Load()
	stream.WaitAcked(t, len(stream.Acked())+50, visibleWithin)
	ds[0].Restart()
	stream.WaitAcked(t, len(stream.Acked())+50, storedWithin)
	stream.Stop()
	stream.Check(t)
	acked := stream.Acked()
	harness.WaitStoredOnce(t, shop, "crash", acked, storedWithin)
	waitAllDispatched(t, shop)

	dups := duplicatesAnswered(shop)
	t.Logf("dispatcher SIGKILLed after %d deliveries: %d purchases acknowledged, %d deliveries, %d answered as duplicates",
		killedAt, len(acked), source.Delivered.Load(), dups)
	if dups == 0 {
		t.Error("duplicates after the crash: got 0, want the events delivered since the last commit again")
	}
	if n := source.Delivered.Load(); n != int64(len(acked)+dups) {
		t.Errorf("deliveries: got %d, want %d purchases + %d duplicates", n, len(acked), dups)
	}
	if dl := source.DeadLetters(); len(dl) != 0 {
		t.Errorf("dead letters: got %v, want none", dl)
	}
}

// TestDataPlaneBrokerOutage stops this test's own Kafka broker for 30 s
// under a steady stream of buys through the real receiver and dispatcher,
// and starts it again on the same data. The receiver's producer keeps
// retrying (delivery.timeout.ms 120 s, as shipped) after cm-server gave up
// on it, so a purchase answered 503 may still be written; the client's
// retry with the same Idempotency-Key is the same purchase. Every
// acknowledged purchase is stored exactly once.
func TestDataPlaneBrokerOutage(t *testing.T) {
	t.Parallel()
	harness.RealDataPlane(t)
	harness.Integration(t)
	broker := harness.StartBroker(t)
	shop := harness.NewShop(t, broker.Brokers, harness.MongoURI(t))
	sink := harness.StartKafkaSink(t, broker.Brokers, shop.Topic)
	shop.StartAPI(false, nil)
	source := shop.StartKafkaSource(1)
	shop.StartServer(sink, map[string]string{"SEND_TIMEOUT": "3s"})

	stream := harness.StartStream(t, shop, "broker-down", 2, 100*time.Millisecond)
	stream.WaitAcked(t, 20, visibleWithin)
	broker.Stop()
	time.Sleep(30 * time.Second)
	before := len(stream.Acked())
	broker.Start()
	stream.WaitAcked(t, before+20, storedWithin)
	stream.Stop()
	stream.Check(t)
	if stream.Retries.Load() == 0 {
		t.Error("no purchase was retried: the outage did not reach the clients")
	}
	acked := stream.Acked()
	harness.WaitStoredOnce(t, shop, "broker-down", acked, storedWithin)
	t.Logf("30 s broker outage: %d purchases acknowledged, %d client retries, %d deliveries, %d answered as duplicates",
		len(acked), stream.Retries.Load(), source.Delivered.Load(), duplicatesAnswered(shop))
	if dl := source.DeadLetters(); len(dl) != 0 {
		t.Errorf("dead letters: got %v, want none", dl)
	}
}

// TestDataPlaneRebalanceDuringOutage: while the store is down and the one
// dispatcher retries the waiting purchases, a second dispatcher of the same
// KafkaSource joins (a KEDA scale step, or a new dispatcher pod). The
// rebalance cannot finish before the first polls again (see below); then
// the first drops its queued records but not the one in flight, whose
// retries go on while the partition's new owner starts again from the
// committed offset (OrderedConsumerVerticle.java): an event can be
// delivered by both. After the store is back every purchase is stored
// exactly once, nothing is dead-lettered and nothing lost.
func TestDataPlaneRebalanceDuringOutage(t *testing.T) {
	t.Parallel()
	harness.RealDataPlane(t)
	brokers := harness.Integration(t)
	mongo, dir := harness.OwnMongo(t)
	shop := harness.NewShop(t, brokers, mongo.URI())
	sink := harness.StartKafkaSink(t, brokers, shop.Topic)
	shop.StartAPI(false, nil)
	source, ds := shop.StartDataPlaneSource(harness.ShippedDelivery(t), 1, harness.DispatcherOptions{})
	shop.StartServer(sink, nil)

	acked := map[string]string{}
	for i := range 5 {
		price := fmt.Sprintf("1.0%d", i)
		acked[buyOK(t, shop, `{"username":"rebalance","userid":"r-`+fmt.Sprint(i)+`","price":"`+price+`"}`, nil)] = price
	}
	waitForPurchases(t, shop, "rebalance", keys(acked)...)
	mongo.Close()
	for i := range 30 {
		price := fmt.Sprintf("2.%02d", i)
		acked[buyOK(t, shop, `{"username":"rebalance","userid":"r-`+fmt.Sprint(i)+`","price":"`+price+`"}`, nil)] = price
	}
	harness.Eventually(t, visibleWithin, func() string {
		if source.Retried.Load() < 3 {
			return fmt.Sprintf("dispatcher retries: got %d, want the outage felt", source.Retried.Load())
		}
		return ""
	})
	ds[0].Another()
	// The first dispatcher joins the rebalance only from its poll loop, which
	// does not poll while every partition it owns has an event in flight
	// (OrderedConsumerVerticle.java, areAllExecutorsBusy), and the shipped
	// delivery makes max.poll.interval.ms days long (ConsumerVerticleContext.java):
	// so the group waits in PreparingRebalance until the store is back.
	time.Sleep(15 * time.Second)
	during := groupState(t, brokers, shop.Group)
	restarted, err := stack.StartMongo(context.Background(), mongo.Addr(), dir, harness.DevStore()...)
	if err != nil {
		t.Fatalf("restart FerretDB: %v", err)
	}
	t.Cleanup(restarted.Close)
	harness.WaitGroupMembers(t, brokers, shop.Group, 2)
	t.Logf("group 15 s after the second dispatcher joined, store still down: %s", during)
	harness.WaitStoredOnce(t, shop, "rebalance", acked, storedWithin)
	waitAllDispatched(t, shop)
	t.Logf("rebalance during a store outage: %d purchases, %d deliveries, %d answered as duplicates, %d retried attempts",
		len(acked), source.Delivered.Load(), duplicatesAnswered(shop), source.Retried.Load())
	if dl := source.DeadLetters(); len(dl) != 0 {
		t.Errorf("dead letters: got %v, want none", dl)
	}
	if n := topicRecords(t, brokers, shop.DLQTopic); n != 0 {
		t.Errorf("records in %s: got %d, want 0", shop.DLQTopic, n)
	}
}

// groupState describes group: its state and its members.
func groupState(t *testing.T, brokers []string, group string) string {
	t.Helper()
	admin := harness.ClusterAdmin(t, brokers)
	defer admin.Close()
	groups, err := admin.DescribeConsumerGroups([]string{group})
	if err != nil || len(groups) != 1 {
		t.Fatalf("describe group %s: %v", group, err)
	}
	return fmt.Sprintf("%s with %d members", groups[0].State, len(groups[0].Members))
}

// TestDataPlaneDeadLetterSinkToken: with sender identity on, the real
// dispatcher asks the Kubernetes API (here a loopback stand-in of the one
// TokenRequest call, harness fakeTokenAPI) for a token of the KafkaSource's
// OIDC service account for the sink's audience, which cm-api accepts, and,
// for a dead letter, for the dead-letter sink's own audience
// (ConsumerVerticleBuilder.java: egressConfig.deadLetterAudience), which it
// sends to the KafkaSink purchases-dlq. That receiver runs here without
// OIDC (its token check needs the cluster's OIDC discovery), so what is
// checked is what the dispatcher asks for and sends.
func TestDataPlaneDeadLetterSinkToken(t *testing.T) {
	t.Parallel()
	harness.RealDataPlane(t)
	brokers := harness.Integration(t)
	iss := authtest.NewIssuer(t, "cm-api.shop.svc.cluster.local")
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	shop.StartAPI(false, map[string]string{"EVENTS_AUDIENCE": iss.Audience, "EVENTS_ISSUER_URL": iss.URL,
		"EVENTS_ALLOWED_SUBJECTS": sourceSubject})
	shop.SourceToken = func() string { return iss.Token(t, "", authtest.Claims{"sub": sourceSubject}) }
	source := shop.StartKafkaSource(1)
	shop.StartServer("", nil)

	bad := producePoison(t, brokers, shop.Topic)
	waitForPurchases(t, shop, "poison", "good-1")
	waitAllDispatched(t, shop)

	dls := harness.DeadLetterAudience("shop")
	asked := harness.TokenRequestsOf(shop.Group).Audiences()
	if !slices.Contains(asked, dls) || !slices.Contains(asked, (harness.SourceConfig{}).SinkAudience()) {
		t.Errorf("token requests: got audiences %v, want the sink's and the dead-letter sink's %s", asked, dls)
	}
	auths := source.DeadLetterAuthorizations()
	if len(auths) != len(bad) {
		t.Fatalf("dead letters: got %d, want %d", len(auths), len(bad))
	}
	for _, a := range auths {
		if a != "Bearer token-for:"+dls {
			t.Errorf("dead letter Authorization: got %q, want the token for %s", a, dls)
		}
	}
	if n := source.Retried.Load(); n != 0 {
		t.Errorf("retries: got %d, want 0 (cm-api took the source's token)", n)
	}
}
