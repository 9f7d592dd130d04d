package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scalable-shop/scalable-shop/test/harness"
)

// storedWithin bounds how long the purchases of a stream take to be stored
// after a fault: a restarted consumer waits for the group to rebalance (up to
// the dead member's 10 s session timeout) and then drains the backlog.
const storedWithin = 90 * time.Second

// answer is one HTTP answer, read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// send makes one request with a client timeout and reads the whole answer.
func send(method, url, body string, header map[string]string, timeout time.Duration) answer {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: raw, err: err}
}

// jsonError decodes a's body as the one error shape; "" if it is one.
func (a answer) jsonError() (harness.BuyResponse, string) {
	var e harness.BuyResponse
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		return e, fmt.Sprintf("Content-Type %q, want application/json", ct)
	}
	if err := json.Unmarshal(a.body, &e); err != nil || e.Status != "Error" || e.Message == "" {
		return e, fmt.Sprintf("body %q, want {\"status\":\"Error\",\"message\":...}", a.body)
	}
	return e, ""
}

// retryUntilAcked sends body with key until cm-server answers 202, as a
// client does after a 503, a 409 (an earlier attempt with the key is still
// in progress) or a lost answer, and returns the purchase id.
func retryUntilAcked(t *testing.T, shop *harness.Shop, body, key string) string {
	t.Helper()
	var last answer
	for range 120 {
		last = send("POST", shop.ServerURL+"/buy", body, map[string]string{"Content-Type": "application/json", "Idempotency-Key": key}, 10*time.Second)
		if last.err == nil && last.status == http.StatusAccepted {
			var ok harness.BuyResponse
			if err := json.Unmarshal(last.body, &ok); err != nil || ok.ID == "" {
				t.Fatalf("buy %s: 202 with body %q, want an id", body, last.body)
			}
			return ok.ID
		}
		if last.err == nil && last.status != http.StatusServiceUnavailable && last.status != http.StatusConflict {
			t.Fatalf("buy %s: got %d %s, want 202, 409 or 503", body, last.status, last.body)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("buy %s with Idempotency-Key %s: not acknowledged after 120 tries (last: %d %v)", body, key, last.status, last.err)
	return ""
}

func readyzStatus(url string) int {
	a := send("GET", url+"/readyz", "", nil, 5*time.Second)
	return a.status
}

// TestKafkaOutageLosesNothing stops this test's own broker for 5 s under a
// steady stream of buys and starts it again on the same data. Purchases not
// acknowledged meanwhile are retried with their Idempotency-Key; a probe
// bought while the broker is down must get a 503 and, retried afterwards,
// be stored once under the same id. Every acknowledged purchase is stored
// exactly once.
func TestKafkaOutageLosesNothing(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("fault test: runs its own Kafka broker; skipped with -short")
	}
	broker := harness.StartBroker(t)
	shop := harness.NewShop(t, broker.Brokers, harness.MongoURI(t))
	shop.StartAPI(true, nil)
	shop.StartServer("", map[string]string{"SEND_TIMEOUT": "3s"})
	stream := harness.StartStream(t, shop, "outage", 4, 20*time.Millisecond)
	stream.WaitAcked(t, 40, 30*time.Second)

	broker.Stop()
	down := time.Now()
	probe := `{"username":"outage","userid":"probe","price":"0.01"}`
	key := map[string]string{"Content-Type": "application/json", "Idempotency-Key": "outage-probe"}
	a := send("POST", shop.ServerURL+"/buy", probe, key, 20*time.Second)
	if _, bad := a.jsonError(); a.err != nil || a.status != http.StatusServiceUnavailable || bad != "" || a.header.Get("Retry-After") == "" {
		t.Errorf("buy while Kafka is down: got %d %s %v, want 503 JSON with Retry-After", a.status, a.body, a.err)
	}
	harness.Eventually(t, 10*time.Second, func() string {
		if got := readyzStatus(shop.ServerURL); got != http.StatusServiceUnavailable {
			return fmt.Sprintf("cm-server readyz while Kafka is down: got %d, want 503", got)
		}
		return ""
	})
	time.Sleep(time.Until(down.Add(5 * time.Second)))
	before := len(stream.Acked())
	broker.Start()

	stream.WaitAcked(t, before+40, 60*time.Second)
	stream.Stop()
	stream.Check(t)
	if stream.Retries.Load() == 0 {
		t.Error("no attempt was retried: the outage did not reach the clients")
	}
	acked := stream.Acked()
	acked[retryUntilAcked(t, shop, probe, "outage-probe")] = "0.01"
	harness.WaitStoredOnce(t, shop, "outage", acked, storedWithin)
	harness.WaitReady(t, shop.ServerURL+"/readyz", 15*time.Second)
	harness.WaitReady(t, shop.APIURL+"/readyz", 15*time.Second)
}

// TestCMAPIKilledLosesNothing kills cm-api with SIGKILL in the middle of a
// stream of buys (it commits nothing on the way out), keeps buying without
// a key while it is dead (a keyed purchase waits: 503), and starts it again on the same port and consumer group. Every
// acknowledged purchase is stored exactly once: records it stored but had
// not committed come again and are duplicates of stored ones.
func TestCMAPIKilledLosesNothing(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	shop.StartAPI(true, nil)
	shop.StartServer("", nil)
	stream := harness.StartStream(t, shop, "killed", 4, 40*time.Millisecond)
	stream.WaitAcked(t, 60, 30*time.Second)
	// Kill while some stored records are not committed yet (offsets are
	// committed every second): those must come again. A commit can land
	// between the check and the kill and leave none; then cm-api is started
	// and killed again, at most three times.
	var uncommitted int64
	for attempt := 1; ; attempt++ {
		harness.Eventually(t, 30*time.Second, func() string {
			if stored, committed := shop.StoredCount(t), committedOffsets(t, brokers, shop.Group, shop.Topic); stored < committed+5 {
				return fmt.Sprintf("stored %d, committed %d: want 5 or more stored records not committed yet", stored, committed)
			}
			return ""
		})
		shop.API.Kill()
		// A write sent just before the kill may still land: count once it settled.
		harness.Eventually(t, 10*time.Second, func() string {
			before := shop.StoredCount(t)
			time.Sleep(500 * time.Millisecond)
			if after := shop.StoredCount(t); after != before {
				return fmt.Sprintf("store still changing: %d then %d", before, after)
			}
			uncommitted = before - committedOffsets(t, brokers, shop.Group, shop.Topic)
			return ""
		})
		if uncommitted > 0 {
			break
		}
		if attempt == 3 {
			t.Fatalf("stored but not committed at the kill: %d after %d kills, want some (else nothing is delivered again)", uncommitted, attempt)
		}
		t.Logf("kill %d: a commit landed just before it, nothing left uncommitted; starting cm-api to kill it again", attempt)
		shop.StartAPI(true, nil)
	}
	// Buying without a key goes on without cm-api; a keyed purchase is
	// not sent while its key cannot be claimed (503, retried by the stream).
	keyed := send("POST", shop.ServerURL+"/buy", `{"username":"killed","userid":"probe","price":"0.01"}`,
		with(jsonType, "Idempotency-Key", "killed-probe"), 10*time.Second)
	if keyed.status != http.StatusServiceUnavailable || keyed.header.Get("Retry-After") == "" {
		t.Errorf("keyed buy while cm-api is dead: got %d %s, want 503 with Retry-After", keyed.status, keyed.body)
	}
	unkeyed := map[string]string{}
	for i := range 40 {
		price := fmt.Sprintf("%d.50", i+1)
		unkeyed[buyOK(t, shop, `{"username":"killed","userid":"k-dead","price":"`+price+`"}`, nil)] = price
	}
	shop.StartAPI(true, nil)
	stream.WaitAcked(t, len(stream.Acked())+40, 30*time.Second)
	stream.Stop()
	stream.Check(t)
	acked := stream.Acked()
	maps.Copy(acked, unkeyed)
	harness.WaitStoredOnce(t, shop, "killed", acked, storedWithin)
	// The restarted cm-api starts from the committed offsets: it must have
	// been given every stored, uncommitted record again, and found each a
	// duplicate (a rebalance may deliver a few more again, never fewer).
	harness.Eventually(t, storedWithin, func() string {
		if got := metricValue(t, shop.APIMetrics, `shop_events_total{function="cm-api",result="duplicate"}`); got < float64(uncommitted) {
			return fmt.Sprintf("restarted cm-api: got %v duplicates, want at least %d (the records stored but not committed at the kill)", got, uncommitted)
		}
		return ""
	})
}

// TestGetAllUserBuysWhenCMAPISlowOrDown checks that getAllUserBuys answers
// in the JSON error shape within CM_API_TIMEOUT when cm-api stalls (504) or
// is gone (502), and that buying does not depend on cm-api.
func TestGetAllUserBuysWhenCMAPISlowOrDown(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	const timeout = 500 * time.Millisecond
	// The client gives up after clientWait, far beyond CM_API_TIMEOUT: a
	// cm-server that waited for a stalled cm-api (which never answers) shows
	// up as no answer at all, without timing the answer in the test.
	const clientWait = 10 * time.Second
	check := func(t *testing.T, url string, want int) {
		t.Helper()
		a := send("GET", url+"/getAllUserBuys/joe", "", nil, clientWait)
		if _, bad := a.jsonError(); a.err != nil || a.status != want || bad != "" {
			t.Errorf("getAllUserBuys with CM_API_TIMEOUT=%v: got %d %s %v (%s), want %d JSON", timeout, a.status, a.body, a.err, bad, want)
		}
		if want == http.StatusBadGateway && a.header.Get("Retry-After") == "" {
			t.Error("502 without Retry-After")
		}
	}

	t.Run("stalling_cm_api_504", func(t *testing.T) {
		t.Parallel()
		stall := harness.StallServer(t)
		shop := harness.NewShop(t, brokers, harness.MongoURI(t))
		shop.StartServer("", map[string]string{"CM_API_URL": stall, "CM_API_TIMEOUT": timeout.String()})
		check(t, shop.ServerURL, http.StatusGatewayTimeout)
	})

	t.Run("stopped_process_504_then_down_502", func(t *testing.T) {
		t.Parallel()
		shop := harness.NewShop(t, brokers, harness.MongoURI(t))
		shop.StartAPI(true, nil)
		shop.StartServer("", map[string]string{"CM_API_TIMEOUT": timeout.String()})
		if _, err := shop.AllUserBuys("joe", 10); err != nil {
			t.Fatalf("getAllUserBuys with cm-api up: %v", err)
		}
		// SIGSTOP: the kernel still accepts connections, nobody answers.
		shop.API.Pause(t)
		check(t, shop.ServerURL, http.StatusGatewayTimeout)
		shop.API.Signal(syscall.SIGCONT)

		if err := shop.API.Stop(30 * time.Second); err != nil {
			t.Errorf("cm-api exit: %v, want 0", err)
		}
		check(t, shop.ServerURL, http.StatusBadGateway)
		id := buyOK(t, shop, joe, nil) // buying needs Kafka only
		shop.StartAPI(true, nil)
		waitForPurchases(t, shop, "joe", id)
	})
}

// TestRetriesAfterLostAnswersAreOnePurchase: clients that never saw the
// answer to their buy (their timeout was shorter than the answer, or they
// hung up) and retry with the same Idempotency-Key end with exactly one
// purchase each, whether or not the first attempt was stored.
func TestRetriesAfterLostAnswersAreOnePurchase(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)

	t.Run("knative_sink_answers_after_the_client_gave_up", func(t *testing.T) {
		t.Parallel()
		shop := harness.NewShop(t, brokers, harness.MongoURI(t))
		// The KafkaSink stand-in acknowledges 1 s after Kafka did: the event
		// is in the topic long before the client's 200 ms are up.
		sink := harness.SlowProxy(t, harness.StartKafkaSink(t, brokers, shop.Topic), time.Second)
		shop.StartAPI(false, nil)
		shop.StartKafkaSource(1)
		shop.StartServer(sink, nil)
		acked := map[string]string{}
		for i := range 5 {
			body := fmt.Sprintf(`{"username":"impatient","userid":"i-1","price":"%d.00"}`, i+1)
			key := map[string]string{"Content-Type": "application/json", "Idempotency-Key": fmt.Sprintf("lost-%d", i)}
			if a := send("POST", shop.ServerURL+"/buy", body, key, 200*time.Millisecond); a.err == nil {
				t.Fatalf("first attempt: got %d %s, want the client to time out", a.status, a.body)
			}
			acked[retryUntilAcked(t, shop, body, key["Idempotency-Key"])] = fmt.Sprintf("%d.00", i+1)
		}
		harness.WaitStoredOnce(t, shop, "impatient", acked, visibleWithin)
	})

	t.Run("kafka_client_hangs_up_mid_request", func(t *testing.T) {
		t.Parallel()
		shop := harness.NewShop(t, brokers, harness.MongoURI(t))
		shop.StartAPI(true, nil)
		shop.StartServer("", nil)
		acked := map[string]string{}
		for i := range 20 {
			body := fmt.Sprintf(`{"username":"hangup","userid":"h-1","price":"%d.00"}`, i+1)
			key := fmt.Sprintf("hangup-%d", i)
			// From 0 to 4.75 ms: some attempts never arrive, some are cut
			// while Kafka acknowledges, some are answered.
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i)*250*time.Microsecond)
			req, _ := http.NewRequestWithContext(ctx, "POST", shop.ServerURL+"/buy", strings.NewReader(body))
			req.Header.Set("Idempotency-Key", key)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
			cancel()
			acked[retryUntilAcked(t, shop, body, key)] = fmt.Sprintf("%d.00", i+1)
		}
		harness.WaitStoredOnce(t, shop, "hangup", acked, visibleWithin)
	})
}
