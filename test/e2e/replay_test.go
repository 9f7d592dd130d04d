package e2e

import (
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/scalable-shop/scalable-shop/test/harness"
)

// shopctl runs the operator's tool, built as released, with env only.
func shopctl(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(harness.Binary(t, "shopctl"), args...)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if exit, ok := err.(*exec.ExitError); ok {
		return out.String(), errOut.String(), exit.ExitCode()
	} else if err != nil {
		t.Fatalf("run shopctl: %v", err)
	}
	return out.String(), errOut.String(), 0
}

// TestShopctlReplayRebuildsAnEmptyStore buys purchases through cm-server
// in Kafka mode while no cm-api consumes them, then replays the topic into
// a cm-api (HTTP mode) on an empty database: every purchase is stored once,
// a record that is no purchase is refused, a second replay finds them all
// there, and the shop lists each purchase exactly once.
func TestShopctlReplayRebuildsAnEmptyStore(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	shop.StartServer("", nil)
	const n = 12
	ids := map[string]bool{}
	for i := range n {
		status, resp, err := shop.Buy(fmt.Sprintf(`{"username":"replay","userid":"u-replay-%d","price":"%d.00"}`, i%3, i+1), nil)
		if err != nil || status != http.StatusAccepted {
			t.Fatalf("buy %d: got %d %+v %v, want 202", i, status, resp, err)
		}
		ids[resp.ID] = true
	}
	produceGarbage(t, brokers, shop.Topic)
	shop.StartAPI(false, nil) // HTTP mode: it stores what is posted to it, and consumes nothing
	env := map[string]string{"KAFKA_BROKERS": strings.Join(brokers, ","), "KAFKA_TOPIC": shop.Topic,
		"KAFKA_DLQ_TOPIC": shop.DLQTopic, "CM_API_URL": shop.APIURL}
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	for _, want := range []string{
		fmt.Sprintf("%d records: stored %d, already there 0, refused 1", n+1, n),
		fmt.Sprintf("%d records: stored 0, already there %d, refused 1", n+1, n),
	} {
		out, errOut, code := shopctl(t, env, "replay", "--since", since)
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("replay: got exit %d %q %q, want 0 and %q", code, out, errOut, want)
		}
		if !strings.Contains(errOut, `"action":"refused"`) || !strings.Contains(errOut, `"why":"not a CloudEvent"`) {
			t.Errorf("replay log: got %q, want the garbage record refused", errOut)
		}
	}
	got, err := shop.AllUserBuys("replay", 100)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, p := range got {
		seen[p.ID]++
	}
	for id := range ids {
		if seen[id] != 1 {
			t.Errorf("purchase %s: stored %d times, want once", id, seen[id])
		}
	}
	if len(got) != n {
		t.Errorf("purchases listed: got %d, want %d", len(got), n)
	}
	out, _, code := shopctl(t, env, "replay", "--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	if want := "0 records: stored 0"; code != 0 || !strings.Contains(out, want) {
		t.Errorf("replay from the future: got exit %d %q, want 0 and %q", code, out, want)
	}
}

// TestShopctlReplayUsageAndUnreachable: a replay without -since is a usage
// error (exit 2); with no cm-api listening it stops with exit 1, saying how
// far it got and that running it again is safe.
func TestShopctlReplayUsageAndUnreachable(t *testing.T) {
	t.Parallel()
	brokers := harness.Integration(t)
	shop := harness.NewShop(t, brokers, harness.MongoURI(t))
	env := map[string]string{"KAFKA_BROKERS": strings.Join(brokers, ","), "KAFKA_TOPIC": shop.Topic,
		"KAFKA_DLQ_TOPIC": shop.DLQTopic, "CM_API_URL": "http://127.0.0.1:1"}
	if _, errOut, code := shopctl(t, env, "replay"); code != 2 || !strings.Contains(errOut, "-since is required") {
		t.Errorf("no -since: got exit %d %q, want 2 and -since is required", code, errOut)
	}
	shop.StartServer("", nil)
	if status, _, err := shop.Buy(`{"username":"ann","userid":"u-ann","price":"1.00"}`, nil); err != nil || status != http.StatusAccepted {
		t.Fatalf("buy: got %d %v, want 202", status, err)
	}
	_, errOut, code := shopctl(t, env, "replay", "--since", "1h")
	if want := "replay stopped after 1 of 1 records (running it again is safe"; code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("no cm-api: got exit %d %q, want 1 and %q", code, errOut, want)
	}
}

// produceGarbage writes a record that is no CloudEvent to topic.
func produceGarbage(t *testing.T, brokers []string, topic string) {
	t.Helper()
	p := harness.SyncProducer(t, brokers)
	if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("not an event")}); err != nil {
		t.Fatal(err)
	}
}
