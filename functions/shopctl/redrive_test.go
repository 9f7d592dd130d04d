package shopctl

import (
	"bytes"
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"

	"github.com/scalable-shop/scalable-shop/functions/internal/broker"
	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
)

// produceRedriveSet writes, in this order on a one-partition dead-letter
// topic: a Kafka-mode purchase the store refused (can succeed again once
// fixed), a Knative-mode 422, a Kafka-mode id conflict and a record that is
// no CloudEvent (neither can succeed again).
func produceRedriveSet(t *testing.T, vars map[string]string) {
	t.Helper()
	if _, _, code := shopctl(t, vars, "topics", "ensure", "--replication-factor", "1", "--dlq-partitions", "1"); code != 0 {
		t.Fatalf("topics ensure: exit %d", code)
	}
	send := dlqSender(t, vars)
	event := func(id, user string) purchase.Purchase {
		return purchase.Purchase{ID: id, Username: user, UserID: "u-" + user, Price: mustMoney(t, "1.00"),
			Timestamp: time.Now().UTC().Truncate(time.Second)}
	}
	dlq := func(reason string) []sarama.RecordHeader {
		return []sarama.RecordHeader{{Key: []byte("dlq-reason"), Value: []byte(reason)},
			{Key: []byte("dlq-original-topic"), Value: []byte("purchases")},
			{Key: []byte("dlq-original-partition"), Value: []byte("1")}, {Key: []byte("dlq-original-offset"), Value: []byte("5")}}
	}
	send(purchase.NewEvent(event("redrive-kafka", "ann"), "cm-server"),
		dlq("store purchase redrive-kafka: the purchase store refuses this purchase: DocumentValidationFailure (121)")...)
	knative := purchase.NewEvent(event("redrive-knative", "bob"), "cm-server")
	knative.SetExtension("knativeerrordest", "http://cm-api.shop.svc.cluster.local")
	knative.SetExtension("knativeerrorcode", "422")
	knative.SetExtension("knativeerrordata", base64.StdEncoding.EncodeToString([]byte(`{"status":"Error","message":"refused"}`)))
	knative.SetExtension("knativekafkapartition", "0")
	knative.SetExtension("knativekafkaoffset", "3")
	send(knative)
	send(purchase.NewEvent(event("redrive-conflict", "cat"), "cm-server"), dlq("purchase id already used by a different purchase")...)
	sendGarbage(t, vars)
}

// purchasesSent reads the purchases topic: each record's purchase id, and
// any header the dead-lettering added that a redrive must drop.
func purchasesSent(t *testing.T, vars map[string]string) (ids []string, stray []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := connect(ctx, broker.Config{Brokers: strings.Split(vars["KAFKA_BROKERS"], ","), ClientID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	err = readAll(ctx, client, vars["KAFKA_TOPIC"], func(msg *sarama.ConsumerMessage) {
		for _, h := range msg.Headers {
			if k := string(h.Key); strings.HasPrefix(k, "dlq-") || strings.HasPrefix(k, "ce_knative") {
				stray = append(stray, k)
			}
		}
		e, err := binding.ToEvent(ctx, kafka_sarama.NewMessageFromConsumerMessage(msg))
		if err != nil {
			t.Errorf("record %d on %s: got %v, want a CloudEvent", msg.Offset, msg.Topic, err)
			return
		}
		if _, err := purchase.FromEvent(*e, time.Now()); err != nil {
			t.Errorf("record %s: got %v, want a valid purchase", e.ID(), err)
		}
		ids = append(ids, e.ID())
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids, stray
}

// TestDLQRedrive_dryRunChangesNothing: a dry run says what it would send
// and skip, sends nothing and moves no offset (a second dry run says the
// same).
func TestDLQRedrive_dryRunChangesNothing(t *testing.T) {
	t.Parallel()
	vars := testEnv(t)
	produceRedriveSet(t, vars)
	var first string
	for i := range 2 {
		out, errOut, code := shopctl(t, vars, "dlq", "redrive", "--dry-run")
		want := "dry run: would send 2, would skip 2, not chosen 0"
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("dry run %d: got exit %d %q %q, want 0 and %q", i, code, out, errOut, want)
		}
		if n := strings.Count(errOut, `"action":"would_send"`); n != 2 {
			t.Errorf("dry run %d audit: got %d would_send lines in %q, want 2", i, n, errOut)
		}
		if i == 0 {
			first = out
		} else if out != first {
			t.Errorf("second dry run: got %q, want the first's %q (no offset moved)", out, first)
		}
	}
	if ids, _ := purchasesSent(t, vars); len(ids) != 0 {
		t.Errorf("purchases after dry runs: got %v, want none", ids)
	}
}

// cancelAfter is stderr that cancels the run once it logged n audit lines
// saying an event was sent: an interruption half-way, as Ctrl-C would be.
type cancelAfter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n -= bytes.Count(p, []byte(`"action":"sent"`)); c.n <= 0 {
		c.cancel()
	}
	return c.buf.Write(p)
}

// TestDLQRedrive_interruptedResumesSendingEachOnce interrupts a redrive
// after its first send, runs it again to the end and once more: every
// event that can succeed again is on the purchases topic exactly once, with
// its original id and without the dead-letter headers; the others are
// skipped and logged.
func TestDLQRedrive_interruptedResumesSendingEachOnce(t *testing.T) {
	t.Parallel()
	vars := testEnv(t)
	produceRedriveSet(t, vars)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &cancelAfter{n: 1, cancel: cancel}
	var out bytes.Buffer
	err := run(ctx, []string{"shopctl", "dlq", "redrive"}, lookup(vars), &out, stderr)
	if err == nil || !strings.Contains(err.Error(), "run the same command again") || !strings.Contains(out.String(), "sent 1,") {
		t.Fatalf("interrupted run: got %v %q, want it interrupted after sending 1", err, out.String())
	}
	outs := []string{}
	for range 2 {
		o, errOut, code := shopctl(t, vars, "dlq", "redrive")
		if code != 0 {
			t.Fatalf("resumed run: got exit %d %q %q, want 0", code, o, errOut)
		}
		outs = append(outs, o)
		stderr.buf.WriteString(errOut)
	}
	if want := "sent 1, skipped 2"; !strings.Contains(outs[0], want) {
		t.Errorf("second run: got %q, want %q", outs[0], want)
	}
	if want := "sent 0, skipped 0 (cannot succeed again; --force sends them), not chosen 0"; !strings.Contains(outs[1], want) {
		t.Errorf("third run: got %q, want %q (everything done before)", outs[1], want)
	}
	ids, stray := purchasesSent(t, vars)
	slices.Sort(ids)
	if got := strings.Join(ids, ","); got != "redrive-kafka,redrive-knative" {
		t.Errorf("purchases topic: got ids %q, want redrive-kafka,redrive-knative once each", got)
	}
	if len(stray) > 0 {
		t.Errorf("purchases topic: got dead-letter headers %v, want none", stray)
	}
	audit := stderr.buf.String()
	for _, want := range []string{`"action":"sent","to_partition"`, `"purchase_id":"redrive-conflict"`,
		`"why":"id already used by a different purchase"`, `"why":"invalid: not a CloudEvent`} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit log: got %q, want %q", audit, want)
		}
	}
	if n := strings.Count(audit, `"action":"sent"`); n != 2 {
		t.Errorf("audit log: got %d sent lines, want 2", n)
	}
}

// TestDLQRedrive_forceAndChoice: --id chooses one event; --force sends one
// that would otherwise be skipped, on a group of its own.
func TestDLQRedrive_forceAndChoice(t *testing.T) {
	t.Parallel()
	vars := testEnv(t)
	produceRedriveSet(t, vars)
	out, errOut, code := shopctl(t, vars, "dlq", "redrive", "--id", "redrive-conflict", "--force", "--group", "forced-"+vars["KAFKA_TOPIC"])
	if want := "sent 1, skipped 0 (cannot succeed again; --force sends them), not chosen 3"; code != 0 || !strings.Contains(out, want) {
		t.Fatalf("got exit %d %q %q, want 0 and %q", code, out, errOut, want)
	}
	if ids, _ := purchasesSent(t, vars); strings.Join(ids, ",") != "redrive-conflict" {
		t.Errorf("purchases topic: got %v, want only redrive-conflict", ids)
	}
}
