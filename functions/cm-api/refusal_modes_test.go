package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/IBM/sarama/mocks"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/scalable-shop/scalable-shop/functions/apitest"
	"github.com/scalable-shop/scalable-shop/functions/internal/logging"
	"github.com/scalable-shop/scalable-shop/functions/internal/purchase"
	"github.com/scalable-shop/scalable-shop/functions/internal/server"
)

// deadLetters records what a mock dead-letter producer was sent.
type deadLetters struct {
	mu   sync.Mutex
	msgs []*sarama.ProducerMessage
}

// expect lets the producer take n dead letters; a further one fails the test.
func (d *deadLetters) expect(t *testing.T, n int) sarama.SyncProducer {
	dlq := mocks.NewSyncProducer(t, nil)
	for range n {
		dlq.ExpectSendMessageWithMessageCheckerFunctionAndSucceed(func(m *sarama.ProducerMessage) error {
			d.mu.Lock()
			defer d.mu.Unlock()
			d.msgs = append(d.msgs, m)
			return nil
		})
	}
	return dlq
}

func dlqHeader(m *sarama.ProducerMessage, key string) string {
	for _, h := range m.Headers {
		if string(h.Key) == key {
			return string(h.Value)
		}
	}
	return ""
}

// TestConsumeClaimDeadLettersStoreRefusals (Kafka mode): the store refuses
// one purchase of a partition for good. Through the batcher, as cm-api
// runs, that record goes to the dead-letter topic with the store's reason
// in dlq-reason, counted as refused and logged once; every record of the
// partition is marked, in order; its batch-mates are stored.
func TestConsumeClaimDeadLettersStoreRefusals(t *testing.T) {
	t.Parallel()
	const perPartition, bad = 10, 4
	for _, f := range storeFaults {
		if !f.permanent {
			continue
		}
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			badID := fmt.Sprintf("p-0-%d", bad)
			st := newFaultyStore(faultFor(badID, f.err, -1))
			b := newBatcher(st, testMetrics(), 50, time.Millisecond, time.Second, 2)
			defer b.Close()
			var dl deadLetters
			var logs apitest.SyncBuffer
			log, _ := logging.New(&logs, "info", "cm-api")
			m := testMetrics()
			h := newRecordHandler(log, b, dl.expect(t, 1), "purchases-dlq", time.Second, 8, m)
			sess, _, wait := consumeClaims(t, h, 1, perPartition)
			wait()
			checkMarkedInOrder(t, sess, 1, perPartition)
			if got := st.count(); got != perPartition-1 {
				t.Errorf("stored %d purchases, want %d: all but the refused one", got, perPartition-1)
			}
			if len(dl.msgs) != 1 {
				t.Fatalf("dead letters: got %d, want 1", len(dl.msgs))
			}
			reason := dlqHeader(dl.msgs[0], headerReason)
			if !strings.Contains(reason, badID) || !strings.Contains(reason, f.reason) || dlqHeader(dl.msgs[0], headerOffset) != fmt.Sprint(bad) {
				t.Errorf("dead letter: got reason %q at offset %s, want %s's refusal %q at offset %d", reason,
					dlqHeader(dl.msgs[0], headerOffset), badID, f.reason, bad)
			}
			if len(reason) > 400 || strings.Contains(reason, secretValue) {
				t.Errorf("dlq-reason of %d bytes %q: want it short and without the document", len(reason), reason)
			}
			if got := testutil.ToFloat64(m.events.WithLabelValues("refused")); got != 1 {
				t.Errorf("shop_events_total{result=refused}: got %v, want 1", got)
			}
			if n := strings.Count(logs.String(), badID); n != 1 || !strings.Contains(logs.String(), `"msg":"record dead-lettered"`) {
				t.Errorf("logs mention %s %d times, want once, as dead-lettered:\n%s", badID, n, logs.String())
			}
		})
	}
}

// TestConsumeClaimRetriesTransientStoreErrors (Kafka mode): the store fails
// one purchase twice with a transient error of each kind, then takes it.
// Nothing is dead-lettered (the producer takes no dead letter: one would
// fail the test), the purchase was tried again until stored, and every
// record is stored and marked in order.
func TestConsumeClaimRetriesTransientStoreErrors(t *testing.T) {
	t.Parallel()
	const perPartition, bad, failures = 10, 4, 2
	for _, f := range storeFaults {
		if f.permanent {
			continue
		}
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			badID := fmt.Sprintf("p-0-%d", bad)
			st := newFaultyStore(faultFor(badID, f.err, failures))
			b := newBatcher(st, testMetrics(), 50, time.Millisecond, time.Second, 2)
			defer b.Close()
			var dl deadLetters
			m := testMetrics()
			h := newRecordHandler(slog.New(slog.DiscardHandler), b, dl.expect(t, 0), "purchases-dlq", time.Second, 8, m)
			sess, _, wait := consumeClaims(t, h, 1, perPartition)
			wait()
			checkMarkedInOrder(t, sess, 1, perPartition)
			if got := st.count(); got != perPartition {
				t.Errorf("stored %d purchases, want all %d", got, perPartition)
			}
			if got := st.attemptsOf(badID); got != failures+1 {
				t.Errorf("%s saved %d times, want %d: retried after each of %d failures", badID, got, failures+1, failures)
			}
			if got := testutil.ToFloat64(m.events.WithLabelValues("refused")); got != 0 {
				t.Errorf("shop_events_total{result=refused}: got %v, want 0", got)
			}
		})
	}
}

// TestReceiveStoreErrors (Knative mode): POST / of a purchase the store
// refuses for good is answered 422 with the store's reason, which a
// KafkaSource does not retry, counted as refused and logged once; any
// transient store error is 503 with Retry-After and a generic message,
// which it retries. Nothing is stored either way.
func TestReceiveStoreErrors(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(apitest.Lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range storeFaults {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			st := newFaultyStore(faultFor("r-1", f.err, -1))
			b := newBatcher(st, testMetrics(), 50, time.Millisecond, time.Second, 1)
			defer b.Close()
			var logs apitest.SyncBuffer
			log, _ := logging.New(&logs, "info", "cm-api")
			m := testMetrics()
			h := newServer(log, cfg, st, b, nil, server.NewReadiness(log), m)
			rec := apitest.Do(h, "POST", "/", data, binary("r-1", purchase.EventType))
			var body server.ErrorBody
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			refused := testutil.ToFloat64(m.events.WithLabelValues("refused"))
			if f.permanent {
				if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(body.Message, f.reason) ||
					rec.Header().Get("Retry-After") != "" {
					t.Errorf("got %d %s, want 422 with %q and no Retry-After", rec.Code, rec.Body, f.reason)
				}
				if refused != 1 || strings.Count(logs.String(), `"msg":"purchase refused by the store"`) != 1 {
					t.Errorf("refused counted %v, logs %s; want counted and logged once", refused, logs.String())
				}
			} else if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" ||
				body.Message != "the purchase store is unavailable" || refused != 0 {
				t.Errorf("got %d %s (refused %v), want 503 with Retry-After and the generic message", rec.Code, rec.Body, refused)
			}
			if strings.Contains(rec.Body.String(), secretValue) {
				t.Errorf("the answer shows the document's details: %s", rec.Body)
			}
			if n := st.count(); n != 0 {
				t.Errorf("stored %d, want 0", n)
			}
		})
	}
}

// TestMongoStoreRefusesForGood runs a real refusal of the wire-protocol
// store: a unique index on userid (standing for any rule the store
// enforces) refuses a purchase of a user who has one. In one unordered
// insert the refused purchase fails alone, as a refusal; a redelivery in
// the same batch is a duplicate and a new one is stored. Through the
// handlers, on the same store, Knative mode answers 422 and Kafka mode
// dead-letters the record and moves on.
func TestMongoStoreRefusesForGood(t *testing.T) {
	t.Parallel()
	st := newTestStore(t)
	ctx := context.Background()
	if _, err := st.coll.Indexes().CreateOne(ctx, uniqueUserID()); err != nil {
		t.Fatal(err)
	}
	first := testPurchase(1)
	if _, err := saveOne(ctx, st, first); err != nil {
		t.Fatal(err)
	}
	sameUser := testPurchase(2) // userid "1", as every testPurchase
	other := testPurchase(3)
	other.UserID = "3"
	got := st.SaveMany(ctx, []saveItem{{p: first}, {p: sameUser}, {p: other}})
	if got[0].err != nil || !got[0].duplicate {
		t.Errorf("redelivery: got %+v, want a duplicate", got[0])
	}
	var rf *refusal
	if !errors.As(got[1].err, &rf) || rf.Code != duplicateKeyCode || !strings.Contains(got[1].err.Error(), sameUser.ID) {
		t.Errorf("same userid, other id: got %v, want a DuplicateKey refusal naming %s", got[1].err, sameUser.ID)
	}
	if got[2].err != nil || got[2].duplicate {
		t.Errorf("new purchase: got %+v, want stored", got[2])
	}

	b := newBatcher(st, testMetrics(), 10, time.Millisecond, 5*time.Second, 1)
	defer b.Close()
	cfg, err := loadConfig(apitest.Lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	// data is user joe, userid 005: a second purchase of 005 is refused.
	h := newServer(log, cfg, st, b, nil, server.NewReadiness(log), testMetrics())
	if rec := apitest.Do(h, "POST", "/", data, binary("joe-1", purchase.EventType)); rec.Code != http.StatusOK {
		t.Fatalf("first purchase of userid 005: got %d %s, want 200", rec.Code, rec.Body)
	}
	rec := apitest.Do(h, "POST", "/", strings.Replace(data, "1195.30", "1.00", 1), binary("joe-2", purchase.EventType))
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "DuplicateKey (11000)") {
		t.Errorf("second purchase of userid 005: got %d %s, want 422 DuplicateKey", rec.Code, rec.Body)
	}

	// Records p-0-0..2 are of userid 1, which testPurchase(1) holds: all
	// three are refused, dead-lettered with the store's reason, and marked.
	var dl deadLetters
	rh := newRecordHandler(log, b, dl.expect(t, 3), "purchases-dlq", 5*time.Second, 8, testMetrics())
	sess, _, wait := consumeClaims(t, rh, 1, 3)
	wait()
	checkMarkedInOrder(t, sess, 1, 3)
	for _, m := range dl.msgs {
		if reason := dlqHeader(m, headerReason); !strings.Contains(reason, "DuplicateKey (11000)") {
			t.Errorf("dead letter at offset %s: reason %q, want the store's DuplicateKey refusal", dlqHeader(m, headerOffset), reason)
		}
	}
}

// uniqueUserID is a unique index the shop does not make, so that the store
// refuses a second purchase of a user for good.
func uniqueUserID() mongo.IndexModel {
	return mongo.IndexModel{Keys: bson.D{{Key: "userid", Value: 1}}, Options: options.Index().SetUnique(true)}
}
